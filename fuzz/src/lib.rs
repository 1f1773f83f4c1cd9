//! The fixture every fuzz target and the seed generator share: one fixed key, one tracker,
//! and the byte layout of each target's input, defined once so seeds and targets agree.

use hashbeacon::{Key, KeyId, Keyring, Kind, Tracker};

/// The tracking base of [`tracker`]; link seeds are request targets under it.
pub const BASE: &str = "https://t.example.com/hb";

/// The fixed "current time" the targets verify at: one second after the seeds' issue time.
pub const NOW: u64 = ISSUED_AT + 1;

/// Issue time of every seed token.
pub const ISSUED_AT: u64 = 1_767_225_600;

/// The fixture's keyring: signing key `k1`, verify-only key `k0`, fixed secrets.
pub fn keyring() -> Keyring {
    let key = |id: &str, byte: u8| KeyId::new(id).and_then(|id| Key::new(id, &[byte; 32]));
    match (key("k1", 7), key("k0", 3)) {
        (Ok(signing), Ok(old)) => match Keyring::new(signing).with_verify_only(old) {
            Ok(ring) => ring,
            Err(err) => panic!("fixture keyring: {err}"),
        },
        _ => panic!("fixture keys are valid"),
    }
}

/// A tracker over [`keyring`] at [`BASE`].
pub fn tracker() -> Tracker {
    match Tracker::new(keyring(), BASE) {
        Ok(tracker) => tracker,
        Err(err) => panic!("fixture tracker: {err}"),
    }
}

/// `token_verify` input: one byte choosing the purpose (even: click, odd: open), then the
/// token, then optionally `\n` and the destination's wire form.
pub fn split_token_input(data: &[u8]) -> Option<(Kind, &str, &str)> {
    let (&selector, rest) = data.split_first()?;
    let kind = if selector % 2 == 0 {
        Kind::Click
    } else {
        Kind::Open
    };
    let text = std::str::from_utf8(rest).ok()?;
    let (token, destination) = text.split_once('\n').unwrap_or((text, ""));
    Some((kind, token, destination))
}

/// The inverse of [`split_token_input`], for seeds.
pub fn token_input(kind: Kind, token: &str, destination: &str) -> Vec<u8> {
    let mut out = vec![match kind {
        Kind::Click => 0,
        Kind::Open => 1,
    }];
    out.extend_from_slice(token.as_bytes());
    if !destination.is_empty() {
        out.push(b'\n');
        out.extend_from_slice(destination.as_bytes());
    }
    out
}

/// `link_verify` input: a request target, `path` then optionally `?` and the raw query.
pub fn split_request_target(target: &str) -> (&str, Option<&str>) {
    match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    }
}
