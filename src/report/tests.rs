use super::*;
use crate::classify::{Signal, Verdict};
use crate::error::VerifyError;
use crate::event::{Link, TokenFacts};
use crate::key::KeyId;
use crate::method::Method;
use proptest::prelude::*;

const ADA: &str = "AAAAAAAAAAAAAAAA";
const BOB: &str = "BBBBBBBBBBBBBBBB";
const SENT: u64 = 1_767_225_600;

fn event(kind: Kind, link: Option<Link>, recipient: Option<&str>, at: u64, verdict: Verdict) -> Event {
    Event {
        kind,
        implied: false,
        token: Ok(TokenFacts {
            campaign: "launch".into(),
            link,
            recipient: recipient.map(Into::into),
            issued_at: SENT,
            expires_at: None,
            expired: false,
            key_id: KeyId::new("k1").unwrap(),
        }),
        received_at: at,
        method: Method::Get,
        user_agent: None,
        client_ip: None,
        verdict,
    }
}

fn click(link: u32, recipient: Option<&str>, at: u64, verdict: Verdict) -> Event {
    event(Kind::Click, Some(Link::Index(link)), recipient, at, verdict)
}

fn open(recipient: Option<&str>, at: u64, verdict: Verdict) -> Event {
    event(Kind::Open, None, recipient, at, verdict)
}

fn implied(click: &Event) -> Event {
    let mut open = click.clone();
    open.kind = Kind::Open;
    open.implied = true;
    if let Ok(token) = &mut open.token {
        token.link = None;
    }
    open
}

const SCANNER: Verdict = Verdict::Scanner(Signal::HeadRequest);
const MPP: Verdict = Verdict::Prefetch(Signal::ApplePrivacyProtection);

#[test]
fn counts_split_uniques_and_rates() {
    let events = [
        click(0, Some(ADA), SENT + 600, Verdict::Human),
        click(0, Some(ADA), SENT + 700, Verdict::Human),
        click(1, Some(BOB), SENT + 2, SCANNER),
        click(0, None, SENT + 900, Verdict::Human),
        open(Some(ADA), SENT + 300, Verdict::Proxied(Signal::GmailImageProxy)),
        open(Some(BOB), SENT + 1, MPP),
    ];
    let report: Report = events.iter().collect();
    let campaign = report.campaign("launch").unwrap();
    assert_eq!(campaign.clicks().split(), Split { human: 3, machine: 1 });
    assert_eq!(campaign.clicks().unique(), 2);
    assert_eq!(campaign.clicks().unique_human(), 1);
    assert_eq!(campaign.opens().split(), Split { human: 1, machine: 1 });
    assert_eq!(campaign.opens().unique_human(), 1);
    assert_eq!(
        campaign.click_through_rate(10),
        Rate {
            numerator: 1,
            denominator: 10
        }
    );
    assert_eq!(campaign.open_rate(10).to_string(), "10.0%");
    assert_eq!(campaign.click_to_open_rate().value(), Some(1.0));
    assert_eq!(
        campaign.opens().reasons(),
        [
            ("prefetch: Apple Mail Privacy Protection", 1),
            ("proxied: Gmail image proxy", 1)
        ]
    );

    let links = campaign.links();
    assert_eq!(links.len(), 2);
    assert_eq!(links[0].link(), Some(&Link::Index(0)));
    assert_eq!(links[0].clicks().split(), Split { human: 3, machine: 0 });
    assert_eq!(links[0].clicks().unique_human(), 1);
    assert_eq!(links[1].clicks().reasons(), [("scanner: HEAD request", 1)]);
    assert_eq!(
        links[1].click_to_open_rate(),
        Rate {
            numerator: 0,
            denominator: 1
        }
    );
    assert_eq!(links[1].click_through_rate(4).value(), Some(0.0));
    assert!(campaign.link(Some(&Link::Index(7))).is_none());
    assert_eq!(report.events(), 6);
}

#[test]
fn implied_opens_make_openers_without_inflating_opens() {
    let human = click(0, Some(ADA), SENT + 600, Verdict::Human);
    let scanner = click(0, Some(BOB), SENT + 1, SCANNER);
    let events = [implied(&human), human, implied(&scanner), scanner];
    let report: Report = events.iter().collect();
    let opens = report.campaign("launch").unwrap().opens();
    assert_eq!(opens.total(), 0, "implied opens are not pixel loads");
    assert_eq!(opens.implied(), 2);
    assert_eq!(opens.unique(), 2);
    assert_eq!(opens.unique_human(), 1, "a scanner's click makes no human opener");
    assert!(opens.trend(Granularity::Hour).is_empty());
    assert_eq!(opens.time_to_first().counts()[2], 1);
    assert_eq!(
        report.campaign("launch").unwrap().click_to_open_rate().value(),
        Some(1.0)
    );
    assert_eq!(report.events(), 4);
}

#[test]
fn rejected_requests_are_counted_apart() {
    let mut bad = click(0, Some(ADA), SENT + 600, Verdict::Human);
    bad.token = Err(VerifyError::BadMac);
    let mut unknown = open(None, SENT, Verdict::Human);
    unknown.token = Err(VerifyError::UnknownKey(KeyId::new("k9").unwrap()));
    let report: Report = [bad.clone(), bad, unknown].into_iter().collect();
    assert!(report.campaigns().is_empty());
    assert_eq!(report.rejected().clicks(), 2);
    assert_eq!(report.rejected().opens(), 1);
    assert_eq!(report.rejected().reasons(), [("bad MAC", 2), ("unknown key", 1)]);
    assert_eq!(report.events(), 3);
}

#[test]
fn time_to_first_click_uses_each_recipients_first_human_click() {
    let report: Report = [
        click(0, Some(ADA), SENT + 3 * DAY, Verdict::Human),
        click(1, Some(ADA), SENT + 59, Verdict::Human),
        click(0, Some(BOB), SENT + 2, SCANNER),
        click(0, Some(BOB), SENT + 10 * DAY, Verdict::Human),
        click(0, None, SENT + 5, Verdict::Human),
    ]
    .into_iter()
    .collect();
    let campaign = report.campaign("launch").unwrap();
    assert_eq!(
        campaign.clicks().time_to_first().counts(),
        &[1, 0, 0, 0, 0, 0, 0, 1]
    );
    let first_link = campaign.link(Some(&Link::Index(0))).unwrap();
    assert_eq!(
        first_link.clicks().time_to_first().counts(),
        &[0, 0, 0, 0, 0, 0, 1, 1]
    );
}

#[test]
fn time_buckets_have_documented_bounds() {
    let bucket_of = |seconds| {
        let mut distribution = Distribution::default();
        distribution.count(seconds);
        distribution.counts().iter().position(|&n| n == 1).unwrap()
    };
    let cases = [
        (0, 0),
        (59, 0),
        (60, 1),
        (299, 1),
        (300, 2),
        (3_599, 3),
        (3_600, 4),
        (DAY - 1, 5),
        (DAY, 6),
        (7 * DAY, 7),
        (u64::MAX, 7),
    ];
    for (seconds, bucket) in cases {
        assert_eq!(bucket_of(seconds), bucket, "{seconds} s");
    }
}

#[test]
fn trend_buckets_by_hour_and_day() {
    let day_start = SENT; // 2026-01-01T00:00:00Z
    let report: Report = [
        click(0, Some(ADA), day_start + 10, Verdict::Human),
        click(0, Some(ADA), day_start + HOUR + 10, SCANNER),
        open(Some(ADA), day_start + DAY + 5, Verdict::Human),
    ]
    .into_iter()
    .collect();
    let campaign = report.campaign("launch").unwrap();
    let hourly = campaign.trend(Granularity::Hour);
    assert_eq!(
        hourly.iter().map(|p| p.start - day_start).collect::<Vec<_>>(),
        [0, HOUR, DAY]
    );
    assert_eq!(hourly[1].clicks, Split { human: 0, machine: 1 });
    let daily = campaign.trend(Granularity::Day);
    assert_eq!(daily.len(), 2);
    assert_eq!(daily[0].clicks, Split { human: 1, machine: 1 });
    assert_eq!(daily[1].opens, Split { human: 1, machine: 0 });
    assert_eq!(campaign.links()[0].trend(Granularity::Day).len(), 1);
}

#[test]
fn pseudonyms_only_in_the_listing() {
    let report: Report = [
        click(0, Some(ADA), SENT + 600, Verdict::Human),
        click(0, Some(BOB), SENT + 1, SCANNER),
        open(Some(BOB), SENT + 1, MPP),
    ]
    .into_iter()
    .collect();
    let debug = format!("{report:?}");
    assert!(!debug.contains(ADA) && !debug.contains(BOB), "{debug}");
    let listing = report.campaign("launch").unwrap().recipients();
    assert_eq!(listing.len(), 2);
    assert_eq!(listing[0].recipient, ADA);
    assert_eq!(listing[0].human_clicks, 1);
    assert_eq!(listing[0].first_click_at, Some(SENT + 600));
    assert_eq!(
        (listing[1].clicks, listing[1].human_clicks, listing[1].opens),
        (1, 0, 1)
    );
    assert_eq!(listing[1].first_click_at, None);
}

#[test]
fn conversions_count_per_link_with_a_rate() {
    let conversion = |link: u32, recipient: &str, clicked_at: u64| Conversion {
        campaign: "launch".to_owned(),
        link: Some(Link::Index(link)),
        recipient: Some(recipient.to_owned()),
        clicked_at,
        converted_at: clicked_at + 120,
        key_id: KeyId::new("k1").unwrap(),
    };
    let mut report: Report = [
        click(0, Some(ADA), SENT + 600, Verdict::Human),
        click(0, Some(BOB), SENT + 900, Verdict::Human),
        click(1, Some(BOB), SENT + 950, Verdict::Human),
    ]
    .into_iter()
    .collect();
    report.add_conversion(&conversion(0, ADA, SENT + 600));
    report.add_conversion(&conversion(0, ADA, SENT + 600)); // the site reported twice
    report.add_conversion(&conversion(1, BOB, SENT + 950));
    let campaign = report.campaign("launch").unwrap();
    assert_eq!(campaign.conversions().total(), 3);
    assert_eq!(
        campaign.conversion_rate(),
        Rate {
            numerator: 2,
            denominator: 2
        }
    );
    let links = campaign.links();
    assert_eq!(links[0].conversions().total(), 2);
    assert_eq!(
        links[0].conversion_rate(),
        Rate {
            numerator: 1,
            denominator: 2
        }
    );
    assert_eq!(links[1].conversion_rate().to_string(), "100.0%");
    assert_eq!(
        campaign.conversions().time_to_first().counts()[1],
        2,
        "2 minutes after the click"
    );
    assert_eq!(campaign.trend(Granularity::Day)[0].conversions, 3);
    assert_eq!(campaign.recipients()[0].conversions, 2);
    assert_eq!(report.events(), 6);
}

fn verdicts() -> impl Strategy<Value = Verdict> {
    prop_oneof![
        Just(Verdict::Human),
        Just(Verdict::Proxied(Signal::GmailImageProxy)),
        Just(MPP),
        Just(SCANNER),
        Just(Verdict::Scanner(Signal::HttpLibrary("curl"))),
    ]
}

/// What a report folds: a request's event or a landing site's conversion.
#[derive(Clone, Debug)]
enum Input {
    Event(Event),
    Conversion(Conversion),
}

fn fold<'a>(inputs: impl IntoIterator<Item = &'a Input>) -> Report {
    let mut report = Report::new();
    for input in inputs {
        match input {
            Input::Event(event) => report.add(event),
            Input::Conversion(conversion) => report.add_conversion(conversion),
        }
    }
    report
}

fn inputs() -> impl Strategy<Value = Input> {
    let links = prop_oneof![
        Just(None),
        Just(Some(Link::Index(0))),
        Just(Some(Link::Index(1))),
        Just(Some(Link::Label("cta".into()))),
    ];
    let recipients = prop_oneof![
        Just(None),
        Just(Some(ADA)),
        Just(Some(BOB)),
        Just(Some("CCCCCCCCCCCCCCCC"))
    ];
    (
        prop_oneof![Just("a"), Just("b")],
        any::<bool>(),
        0u8..5,
        links,
        recipients,
        0..10 * DAY,
        verdicts(),
        prop_oneof![Just(Method::Get), Just(Method::Head)],
    )
        .prop_map(
            |(campaign, is_click, shape, link, recipient, delay, verdict, method)| {
                let kind = if is_click { Kind::Click } else { Kind::Open };
                let mut event = event(kind, link, recipient, SENT + delay, verdict);
                event.method = method;
                if let Ok(token) = &mut event.token {
                    token.campaign = campaign.into();
                }
                match shape {
                    0 => event.token = Err(VerifyError::BadMac),
                    1 if kind == Kind::Click => event = implied(&event),
                    4 => {
                        let token = event.token.clone().unwrap();
                        return Input::Conversion(Conversion {
                            campaign: token.campaign.into(),
                            link: token.link,
                            recipient: token.recipient.map(Into::into),
                            clicked_at: event.received_at,
                            converted_at: event.received_at + delay,
                            key_id: token.key_id,
                        });
                    }
                    _ if kind == Kind::Open => {
                        if let Ok(token) = &mut event.token {
                            token.link = None;
                        }
                    }
                    _ => {}
                }
                Input::Event(event)
            },
        )
}

fn check_activity(activity: &Activity) -> Result<(), TestCaseError> {
    prop_assert!(activity.unique() <= activity.total() + activity.implied());
    prop_assert!(activity.unique_human() <= activity.human() + activity.implied());
    prop_assert!(activity.unique_human() <= activity.unique());
    prop_assert_eq!(
        activity.reasons().iter().map(|(_, n)| n).sum::<u64>(),
        activity.total()
    );
    let trend: u64 = activity
        .trend(Granularity::Hour)
        .iter()
        .map(|(_, s)| s.total())
        .sum();
    prop_assert_eq!(trend, activity.total());
    prop_assert_eq!(activity.time_to_first().total(), activity.unique_human());
    Ok(())
}

proptest! {
    #[test]
    fn totals_equal_events_and_uniques_never_exceed_totals(inputs in prop::collection::vec(inputs(), 0..60)) {
        let report = fold(&inputs);
        prop_assert_eq!(report.events(), inputs.len() as u64);
        let events: Vec<&Event> = inputs
            .iter()
            .filter_map(|input| match input {
                Input::Event(event) => Some(event),
                Input::Conversion(_) => None,
            })
            .collect();
        let rejected = events.iter().filter(|e| e.is_rejected()).count() as u64;
        prop_assert_eq!(report.rejected().total(), rejected);
        for (id, campaign) in report.campaigns() {
            check_activity(campaign.clicks())?;
            check_activity(campaign.opens())?;
            check_activity(campaign.conversions())?;
            let links = campaign.links();
            prop_assert_eq!(links.iter().map(|l| l.clicks().total()).sum::<u64>(), campaign.clicks().total());
            prop_assert_eq!(
                links.iter().map(|l| l.conversions().total()).sum::<u64>(),
                campaign.conversions().total()
            );
            prop_assert!(links.iter().map(|l| l.clicks().unique()).sum::<u64>() >= campaign.clicks().unique());
            for link in links {
                check_activity(link.clicks())?;
                check_activity(link.conversions())?;
            }
            let clicks_with_recipient = events
                .iter()
                .filter_map(|e| e.token.as_ref().ok().map(|t| (e.kind, t)))
                .filter(|(kind, t)| *kind == Kind::Click && t.campaign == id && t.recipient.is_some())
                .count() as u64;
            prop_assert_eq!(campaign.recipients().iter().map(|r| r.clicks).sum::<u64>(), clicks_with_recipient);
        }
    }

    #[test]
    fn merging_equals_folding_the_union(a in prop::collection::vec(inputs(), 0..40),
                                        b in prop::collection::vec(inputs(), 0..40)) {
        let whole = fold(a.iter().chain(&b));
        let mut merged = fold(&a);
        merged.merge(fold(&b));
        prop_assert_eq!(&merged, &whole);
        let mut reversed = fold(&b);
        reversed.merge(fold(&a));
        prop_assert_eq!(&reversed, &whole);
    }
}

#[test]
fn an_events_action_is_its_kind_with_implied_opens_apart() {
    let human = click(0, Some(ADA), SENT + 60, Verdict::Human);
    let cases = [
        (human.clone(), Some(Action::Click)),
        (open(Some(ADA), SENT + 60, MPP), Some(Action::Open)),
        (implied(&human), Some(Action::ImpliedOpen)),
        (
            event(Kind::Unsubscribe, None, Some(ADA), SENT, SCANNER),
            Some(Action::Unsubscribe),
        ),
        (
            Event {
                token: Err(VerifyError::BadMac),
                ..human.clone()
            },
            None,
        ),
    ];
    for (event, action) in cases {
        assert_eq!(Action::of(&event), action, "{event:?}");
        let reason = event.verdict.to_string();
        assert_eq!(Record::from_event(&event, &reason).map(|r| r.action), action);
    }
}
