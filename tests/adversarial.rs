//! Adversarial inputs at the tracked-URL layer: open-redirect attempts, path confusion,
//! double encoding, look-alike characters, header injection and oversized input.
//! Nothing here may ever produce a verified click for a destination that was not signed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::{NOW, click_claims as claims, tracker};
use hashbeacon::link::{decode_destination, location};
use hashbeacon::{LinkError, VerifyError};
use proptest::prelude::*;

const ORIGIN: &str = "https://t.example.com";

/// Path and raw query of a click URL, as the request carries them.
fn request_parts(url: &str) -> (String, String) {
    let (path, query) = url.strip_prefix(ORIGIN).unwrap().split_once('?').unwrap();
    (path.to_owned(), query.to_owned())
}

#[test]
fn swapping_the_destination_of_a_valid_url_is_rejected() {
    let tracker = tracker();
    let (path, _) = request_parts(&tracker.click_url(&claims(), "https://shop.example/").unwrap());
    for evil in [
        "https://evil.example/",
        "https://shop.example.evil.example/",
        "https://shop.example@evil.example/",
        "//evil.example/",
        "https://shop.example/%2F%2Fevil.example",
        "https:%2F%2Fevil.example",
        "",
    ] {
        assert_eq!(
            tracker.verify_click(&path, Some(evil), NOW).unwrap_err(),
            VerifyError::BadMac,
            "{evil}"
        );
    }
    assert!(tracker.verify_click(&path, None, NOW).is_err());
}

#[test]
fn path_confusion_is_not_routed() {
    let tracker = tracker();
    let (path, query) = request_parts(&tracker.click_url(&claims(), "https://shop.example/").unwrap());
    let token = path.strip_prefix("/hb/c/").unwrap();
    let confusions = [
        format!("/hb/c/../c/{token}"),
        format!("/hb//c/{token}"),
        format!("/HB/c/{token}"),
        format!("/hb/C/{token}"),
        format!("/hb/c/{token}/"),
        format!("/hb/c/{token}/extra"),
        format!("/hb/c/{token}%2F"),
        format!("/hb/c/%2E%2E/{token}"),
        format!("/hbx/c/{token}"),
        format!("/c/{token}"),
        format!("/hb/o/{token}.gif"),
        format!("/hb/c/{token}.gif"),
        format!("/hb/c/{}", token.replace('.', "%2E")),
    ];
    for path in confusions {
        assert!(tracker.verify_click(&path, Some(&query), NOW).is_err(), "{path}");
    }
}

#[test]
fn destinations_are_decoded_exactly_once() {
    let tracker = tracker();
    // An author's already-encoded bytes must survive: %2523 is "%23" literally, never "#".
    for dest in [
        "https://a.example/%2523",
        "https://a.example/?next=%2F%2Fevil.example",
        "https://a.example/%252F",
    ] {
        let (path, query) = request_parts(&tracker.click_url(&claims(), dest).unwrap());
        let click = tracker.verify_click(&path, Some(&query), NOW).unwrap();
        assert_eq!(click.destination().unwrap(), dest);
        assert_eq!(click.location().unwrap(), dest);
    }
}

#[test]
fn look_alike_hosts_are_different_destinations() {
    let tracker = tracker();
    let (path, _) = request_parts(&tracker.click_url(&claims(), "https://paypal.example/").unwrap());
    // Cyrillic "а" (U+0430) in place of the Latin "a", and its punycode form.
    for look_alike in [
        "https://p%D0%B0yp%D0%B0l.example/",
        "https://xn--pypl-53dc.example/",
    ] {
        assert_eq!(
            tracker.verify_click(&path, Some(look_alike), NOW).unwrap_err(),
            VerifyError::BadMac
        );
    }
}

#[test]
fn control_characters_never_reach_a_location_header() {
    let tracker = tracker();
    for dest in [
        "https://a.example/\r\nSet-Cookie: x=1",
        "https://a.example/\nx",
        "https://a.example/\0",
    ] {
        assert_eq!(
            tracker.click_url(&claims(), dest).unwrap_err(),
            LinkError::ControlCharacters,
            "{dest:?}"
        );
    }
    // Even given such text directly, the Location value carries no raw control byte.
    let value = location("https://a.example/\r\nSet-Cookie: x=1\u{7f}\t");
    assert!(value.bytes().all(|b| (0x21..0x7f).contains(&b)), "{value}");
    // A signed URL whose query encodes CR LF cannot exist, and a forged one is rejected.
    let (path, _) = request_parts(&tracker.click_url(&claims(), "https://a.example/").unwrap());
    assert!(
        tracker
            .verify_click(&path, Some("https://a.example/%0D%0ASet-Cookie:%20x"), NOW)
            .is_err()
    );
}

#[test]
fn non_http_destinations_are_never_signed() {
    let tracker = tracker();
    for dest in [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "data:text/html,<script>",
        "mailto:a@example.com",
        "ftp://example.com/",
        "https:evil.example",
        "https:/evil.example",
        "https:\\\\evil.example",
        "https:///evil.example",
        "//evil.example",
        " https://a.example/",
    ] {
        assert_eq!(
            tracker.click_url(&claims(), dest).unwrap_err(),
            LinkError::NotHttp,
            "{dest:?}"
        );
    }
}

#[test]
fn oversized_input_is_rejected_without_work() {
    let tracker = tracker();
    let megabyte_path = format!("/hb/c/{}", "a".repeat(1 << 20));
    assert!(matches!(
        tracker.verify_click(&megabyte_path, Some("x"), NOW),
        Err(VerifyError::TooLong { .. })
    ));
    let (path, _) = request_parts(&tracker.click_url(&claims(), "https://a.example/").unwrap());
    let megabyte_query = "a".repeat(1 << 20);
    assert!(matches!(
        tracker.verify_click(&path, Some(&megabyte_query), NOW),
        Err(VerifyError::DestinationTooLong { .. })
    ));
    let long_destination = format!(
        "https://a.example/{}",
        "a".repeat(hashbeacon::token::MAX_DESTINATION_LEN)
    );
    assert!(tracker.click_url(&claims(), &long_destination).is_err());
}

#[test]
fn invalid_utf8_in_a_destination_is_an_error() {
    assert!(decode_destination("https://a.example/%FF").is_err());
    assert_eq!(
        decode_destination("https://a.example/%C3%A9").unwrap(),
        "https://a.example/é"
    );
}

proptest! {
    /// Any change to the query of a valid URL is rejected, whatever it is.
    #[test]
    fn any_other_query_is_rejected(query in "\\PC{0,120}") {
        let tracker = tracker();
        let (path, valid) = request_parts(&tracker.click_url(&claims(), "https://shop.example/p?id=1").unwrap());
        prop_assume!(query != valid);
        prop_assert!(tracker.verify_click(&path, Some(&query), NOW).is_err());
    }

    /// Arbitrary paths and queries never panic and never verify.
    #[test]
    fn arbitrary_requests_never_verify(path in "(/hb/[co]/)?\\PC{0,200}", query in proptest::option::of("\\PC{0,200}")) {
        let tracker = tracker();
        prop_assert!(tracker.verify_click(&path, query.as_deref(), NOW).is_err());
        prop_assert!(tracker.verify_open(&path, NOW).is_err());
    }
}
