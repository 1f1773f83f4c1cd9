//! The `serde` feature: events and report figures round-trip through JSON, under the
//! field names documented as stable.
#![cfg(feature = "serde")]
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use hashbeacon::classify::Classifier;
use hashbeacon::report::{Rate, Split, TIME_BUCKETS, TimeBucket};
use hashbeacon::sink::MemorySink;
use hashbeacon::{
    Claims, Endpoint, Event, Key, KeyId, Keyring, Kind, LinkId, Method, Request, Signal, Tracker, Verdict,
    VerifyError,
};
use proptest::prelude::*;
use serde_json::json;

const ORIGIN: &str = "https://t.example.com";
const ISSUED: u64 = 1_767_225_600;

fn tracker() -> Tracker {
    let key = Key::new(KeyId::new("k1").unwrap(), &[7; 32]).unwrap();
    Tracker::new(Keyring::new(key), "https://t.example.com/hb").unwrap()
}

/// The events the endpoint records for one request.
fn events(method: &str, target: &str, user_agent: Option<&str>, now: u64) -> Vec<Event> {
    let endpoint = Endpoint::new(tracker(), MemorySink::new())
        .with_rejected_events(true)
        .with_click_implies_open(true)
        .with_classifier(Classifier { min_click_delay: 5 });
    let mut request = Request::new(method, target, "203.0.113.77".parse().unwrap());
    if let Some(user_agent) = user_agent {
        request = request.with_user_agent(user_agent);
    }
    let _ = endpoint.handle(&request, now);
    endpoint.sink().take()
}

fn click_target(link: Option<LinkId<'_>>, recipient: Option<&str>, expires_at: Option<u64>) -> String {
    let claims = Claims {
        kind: Kind::Click,
        campaign: "spring-sale",
        link,
        recipient,
        issued_at: ISSUED,
        expires_at,
    };
    let url = tracker()
        .click_url(&claims, "https://shop.example/?a=1&b=2")
        .unwrap();
    url.strip_prefix(ORIGIN).unwrap().to_owned()
}

fn round_trip<T>(value: &T) -> T
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    serde_json::from_str(&serde_json::to_string(value).unwrap()).unwrap()
}

#[test]
fn an_event_is_written_under_its_documented_field_names() {
    // Written by hand: these names and shapes are the stable form.
    let text = json!({
        "kind": "click",
        "implied": false,
        "token": {"accepted": {
            "campaign": "spring-sale",
            "link": "cta",
            "recipient": "Qm9iJ3MgcHNldWRv",
            "issued_at": 1_767_225_600,
            "expires_at": null,
            "expired": false,
            "key_id": "k1"
        }},
        "received_at": 1_767_229_200,
        "method": "HEAD",
        "user_agent": "curl/8.5.0",
        "client_ip": "203.0.113.0",
        "verdict": {"scanner": "head_request"}
    });
    let event: Event = serde_json::from_value(text.clone()).unwrap();
    assert_eq!(event.kind, Kind::Click);
    assert_eq!(event.method, Method::Head);
    assert_eq!(event.verdict, Verdict::Scanner(Signal::HeadRequest));
    let token = event.token.as_ref().unwrap();
    assert_eq!(token.key_id.as_str(), "k1");
    assert_eq!(&*token.campaign, "spring-sale");
    assert_eq!(serde_json::to_value(&event).unwrap(), text);

    let rejected = json!({"too_long": {"len": 300, "max": 200}});
    let error: VerifyError = serde_json::from_value(rejected.clone()).unwrap();
    assert_eq!(error, VerifyError::TooLong { len: 300, max: 200 });
    for (error, text) in [
        (VerifyError::BadMac, json!("bad_mac")),
        (VerifyError::Malformed("key id"), json!({"malformed": "key id"})),
        (
            VerifyError::UnknownKey(KeyId::new("k9").unwrap()),
            json!({"unknown_key": "k9"}),
        ),
        (
            VerifyError::WrongPurpose {
                expected: Kind::Open,
                found: Kind::Click,
            },
            json!({"wrong_purpose": {"expected": "open", "found": "click"}}),
        ),
    ] {
        assert_eq!(serde_json::to_value(&error).unwrap(), text);
        assert_eq!(serde_json::from_value::<VerifyError>(text).unwrap(), error);
    }
    assert_eq!(
        serde_json::to_value(Verdict::Scanner(Signal::HttpLibrary("curl"))).unwrap(),
        json!({"scanner": {"http_library": "curl"}})
    );
    assert_eq!(serde_json::to_value(Verdict::Human).unwrap(), json!("human"));
}

#[test]
fn details_this_build_does_not_know_are_refused_not_guessed() {
    let unknown = serde_json::from_value::<VerifyError>(json!({"malformed": "a detail from elsewhere"}));
    assert!(
        unknown
            .unwrap_err()
            .to_string()
            .contains("unknown rejection detail")
    );
    let unknown = serde_json::from_value::<Signal>(json!({"security_scanner": "Nobody"}));
    assert!(
        unknown
            .unwrap_err()
            .to_string()
            .contains("unknown user-agent name")
    );
    assert!(serde_json::from_value::<KeyId>(json!("no.dots")).is_err());
    assert!(serde_json::from_value::<TimeBucket>(json!({"label": "soon", "below": 1})).is_err());
}

#[test]
fn rejected_and_implied_events_round_trip() {
    let target = click_target(Some(LinkId::Index(0)), None, None);
    let forged = target.replace("a=1", "a=2");
    let mut all = events("GET", &forged, Some("Mozilla/5.0"), ISSUED + 60);
    assert!(all[0].is_rejected());
    all.extend(events(
        "GET",
        &target,
        Some("Mozilla/5.0 (X11; Linux x86_64)"),
        ISSUED + 60,
    ));
    assert!(all.iter().any(|event| event.implied), "a click implies an open");
    for event in all {
        assert_eq!(round_trip(&event), event);
    }
}

#[test]
fn report_figures_round_trip() {
    let split = Split { human: 3, machine: 4 };
    assert_eq!(
        serde_json::to_value(split).unwrap(),
        json!({"human": 3, "machine": 4})
    );
    assert_eq!(round_trip(&split), split);
    let rate = Rate {
        numerator: 1,
        denominator: 8,
    };
    assert_eq!(
        serde_json::to_value(rate).unwrap(),
        json!({"numerator": 1, "denominator": 8})
    );
    for bucket in TIME_BUCKETS {
        assert_eq!(round_trip(&bucket), bucket);
    }

    let target = click_target(Some(LinkId::Label("cta")), Some("Qm9iJ3MgcHNldWRv"), None);
    let events = events(
        "GET",
        &target,
        Some("Mozilla/5.0 (X11; Linux x86_64)"),
        ISSUED + 4000,
    );
    let report: hashbeacon::Report = events.iter().collect();
    let campaign = report.campaign("spring-sale").unwrap();
    let distribution = campaign.clicks().time_to_first();
    assert_eq!(round_trip(&distribution), distribution);
    for point in campaign.trend(hashbeacon::report::Granularity::Hour) {
        assert_eq!(round_trip(&point), point);
    }
    for listing in campaign.recipients() {
        assert_eq!(round_trip(&listing), listing);
    }
    assert_eq!(round_trip(report.rejected()), *report.rejected());
}

proptest! {
    #[test]
    fn every_recorded_event_round_trips(
        method in prop_oneof![Just("GET"), Just("HEAD")],
        link in prop_oneof![
            Just(None),
            (0u32..1000).prop_map(|i| Some(LinkId::Index(i))),
            Just(Some(LinkId::Label("cta"))),
        ],
        recipient in prop::option::of("[A-Za-z0-9_-]{16}"),
        expires_in in prop::option::of(0u64..10_000),
        user_agent in prop::option::of(prop_oneof![
            Just("curl/8.5.0".to_owned()),
            Just("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36".to_owned()),
            Just("Mozilla/5.0 (compatible; Mimecast)".to_owned()),
            Just("Mozilla/5.0 ms-office".to_owned()),
            "\\PC{0,40}",
        ]),
        tamper in any::<bool>(),
        after in 0u64..20_000,
    ) {
        let mut target = click_target(link, recipient.as_deref(), expires_in.map(|e| ISSUED + e));
        if tamper {
            target = target.replacen("b=2", "b=3", 1);
        }
        for event in events(method, &target, user_agent.as_deref(), ISSUED + after) {
            let text = serde_json::to_string(&event).unwrap();
            let back: Event = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(back, event);
        }
    }
}
