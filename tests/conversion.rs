//! Conversion attribution end to end: the endpoint appends a signed click reference to
//! the redirect, the landing site sends it back, and the report counts the conversion.
//! The reference's golden vector is also listed in `docs/TOKEN.md`.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use hashbeacon::conversion::{ClickReference, ReferenceParameter};
use hashbeacon::event::Link;
use hashbeacon::sink::MemorySink;
use hashbeacon::{Claims, Endpoint, Key, KeyId, Kind, LinkId, Report, Request, Tracker, VerifyError};

const KEY_TEXT: &str = "hbk1.k1.AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
const PSEUDONYM: &str = "3FOq2KtOAntf0XxY";
const ISSUED_AT: u64 = 1_767_225_600;
const CLICKED_AT: u64 = 1_767_229_200;
const BROWSER: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0 Safari/537.36";
/// The golden click reference: key `k1`, campaign `spring-sale`, link 3, recipient
/// `3FOq2KtOAntf0XxY`, clicked at 1767229200.
const GOLDEN_REFERENCE: &str = "1r.k1.spring-sale.3.3FOq2KtOAntf0XxY.1767229200.yMoKb1bStgnMditm1sJPaA";

fn tracker() -> Tracker {
    Tracker::new(
        Key::from_text(KEY_TEXT).unwrap().into(),
        "https://t.example.com/hb",
    )
    .unwrap()
}

fn claims(link: LinkId<'static>) -> Claims<'static> {
    Claims {
        kind: Kind::Click,
        campaign: "spring-sale",
        link: Some(link),
        recipient: Some(PSEUDONYM),
        issued_at: ISSUED_AT,
        expires_at: None,
    }
}

/// Follows a click URL through an endpoint and returns the `Location`.
fn location<S: hashbeacon::EventSink>(endpoint: &Endpoint<S>, destination: &str) -> String {
    let url = endpoint
        .tracker()
        .click_url(&claims(LinkId::Index(3)), destination)
        .unwrap();
    let target = url.strip_prefix("https://t.example.com").unwrap();
    let request = Request::new("GET", target, "203.0.113.7".parse().unwrap()).with_user_agent(BROWSER);
    let handled = endpoint.handle(&request, CLICKED_AT);
    assert_eq!(handled.response.status, 302);
    handled.response.header("location").unwrap().to_owned()
}

#[test]
fn golden_reference() {
    let click = ClickReference {
        campaign: "spring-sale",
        link: Some(LinkId::Index(3)),
        recipient: Some(PSEUDONYM),
        clicked_at: CLICKED_AT,
    };
    let reference = tracker().keyring().sign_reference(&click).unwrap();
    assert_eq!(reference, GOLDEN_REFERENCE);
}

#[test]
fn golden_redirect_with_reference() {
    let endpoint =
        Endpoint::new(tracker(), MemorySink::new()).with_conversion_reference(ReferenceParameter::default());
    assert_eq!(
        location(
            &endpoint,
            "https://shop.example.com/sale?utm_source=news&q=a+b%2Fc#top"
        ),
        format!("https://shop.example.com/sale?utm_source=news&q=a+b%2Fc&hb_ref={GOLDEN_REFERENCE}#top")
    );
}

#[test]
fn off_by_default() {
    let endpoint = Endpoint::new(tracker(), MemorySink::new());
    let destination = "https://shop.example.com/sale?q=1#top";
    assert_eq!(location(&endpoint, destination), destination);
}

#[test]
fn an_authors_parameter_of_that_name_is_left_alone() {
    let endpoint =
        Endpoint::new(tracker(), MemorySink::new()).with_conversion_reference(ReferenceParameter::default());
    for destination in [
        "https://shop.example.com/?hb_ref=newsletter",
        "https://shop.example.com/?a=1&hb_ref#top",
        "https://shop.example.com/?hb%5Fref=x",
    ] {
        assert_eq!(location(&endpoint, destination), destination);
    }
}

#[test]
fn the_parameter_name_is_configurable() {
    let endpoint = Endpoint::new(tracker(), MemorySink::new())
        .with_conversion_reference(ReferenceParameter::new("ref").unwrap());
    let location = location(&endpoint, "https://shop.example.com/p");
    assert_eq!(
        location,
        format!("https://shop.example.com/p?ref={GOLDEN_REFERENCE}")
    );
}

#[test]
fn a_reported_reference_becomes_a_conversion_in_the_report() {
    let sink = MemorySink::new();
    let endpoint = Endpoint::new(tracker(), &sink).with_conversion_reference(ReferenceParameter::default());
    let landed = location(&endpoint, "https://shop.example.com/p?x=1");
    let reference = landed.split_once("hb_ref=").unwrap().1;

    // The landing site reports the conversion an hour later.
    let converted_at = CLICKED_AT + 3_600;
    let conversion = tracker()
        .keyring()
        .verify_reference(reference, converted_at)
        .unwrap();
    assert_eq!(conversion.campaign, "spring-sale");
    assert_eq!(conversion.link, Some(Link::Index(3)));
    assert_eq!(conversion.recipient.as_deref(), Some(PSEUDONYM));
    assert_eq!(
        (conversion.clicked_at, conversion.converted_at),
        (CLICKED_AT, converted_at)
    );
    assert_eq!(conversion.key_id, KeyId::new("k1").unwrap());

    let mut report: Report = sink.take().into_iter().collect();
    report.add_conversion(&conversion);
    let campaign = report.campaign("spring-sale").unwrap();
    assert_eq!(campaign.clicks().human(), 1);
    assert_eq!(campaign.conversions().total(), 1);
    let link = campaign.link(Some(&Link::Index(3))).unwrap();
    assert_eq!(link.conversion_rate().value(), Some(1.0));
}

#[test]
fn a_reference_signed_by_a_retired_key_still_verifies_and_a_token_never_does() {
    let old = Key::from_text(KEY_TEXT).unwrap();
    let new = Key::new(KeyId::new("k2").unwrap(), &[9; 32]).unwrap();
    let ring = hashbeacon::Keyring::new(new).with_verify_only(old).unwrap();
    assert!(ring.verify_reference(GOLDEN_REFERENCE, CLICKED_AT).is_ok());

    let token = tracker()
        .keyring()
        .sign(&claims(LinkId::Label("cta")), "")
        .unwrap();
    assert_eq!(
        ring.verify_reference(&token, CLICKED_AT),
        Err(VerifyError::Malformed("not a reference"))
    );
}
