//! `Tracker::verify_click` / `verify_open` on arbitrary request targets: never panics,
//! never yields a redirect that is not the signed, trackable destination, and never a
//! `Location` value that could split a header.
#![no_main]

use std::sync::LazyLock;

use hashbeacon::Tracker;
use hashbeacon::link::{check_destination, encode_destination};
use hashbeacon_fuzz::{NOW, split_request_target, tracker};
use libfuzzer_sys::fuzz_target;

static TRACKER: LazyLock<Tracker> = LazyLock::new(tracker);

fuzz_target!(|data: &[u8]| {
    let Ok(target) = std::str::from_utf8(data) else {
        return;
    };
    let (path, query) = split_request_target(target);
    let _ = TRACKER.route(path);
    if let Ok(click) = TRACKER.verify_click(path, query, NOW) {
        let destination = click.destination().expect("a signed destination decodes");
        assert!(
            check_destination(&destination).is_ok(),
            "untrackable destination verified"
        );
        assert_eq!(
            encode_destination(&destination),
            click.wire_destination,
            "non-canonical wire form"
        );
        let location = click.location().expect("a signed destination has a location");
        assert!(
            !location.bytes().any(|b| b.is_ascii_control() || b == b' '),
            "unsafe Location header value: {location:?}"
        );
        let key = TRACKER
            .keyring()
            .get(click.verified.key_id.as_str())
            .expect("key in ring");
        let token = key
            .sign(&click.verified.claims, click.wire_destination)
            .expect("signable");
        assert_eq!(
            path,
            format!("{}/c/{token}", TRACKER.path_prefix()),
            "non-canonical click path"
        );
    }
    if let Ok(open) = TRACKER.verify_open(path, NOW) {
        let key = TRACKER.keyring().get(open.key_id.as_str()).expect("key in ring");
        let token = key.sign(&open.claims, "").expect("signable");
        assert_eq!(
            path,
            format!("{}/o/{token}.gif", TRACKER.path_prefix()),
            "non-canonical open path"
        );
    }
});
