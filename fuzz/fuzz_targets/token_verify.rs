//! `Keyring::verify` on arbitrary token, destination and purpose: never panics, and
//! whatever it accepts is canonical and bound to its purpose.
#![no_main]

use std::sync::LazyLock;

use hashbeacon::{Keyring, Kind};
use hashbeacon_fuzz::{NOW, keyring, split_token_input};
use libfuzzer_sys::fuzz_target;

static RING: LazyLock<Keyring> = LazyLock::new(keyring);

fuzz_target!(|data: &[u8]| {
    let Some((kind, token, destination)) = split_token_input(data) else {
        return;
    };
    let Ok(verified) = RING.verify(kind, token, destination, NOW) else {
        return;
    };
    // One encoding per claim set: re-signing what verified gives back the very token.
    let key = RING
        .get(verified.key_id.as_str())
        .expect("the verifying key is in the ring");
    let resigned = key
        .sign(&verified.claims, destination)
        .expect("accepted claims are signable");
    assert_eq!(resigned, token, "a second encoding of the same claims verified");
    for other in Kind::ALL.into_iter().filter(|&other| other != kind) {
        assert!(
            RING.verify(other, token, destination, NOW).is_err(),
            "accepted for two purposes"
        );
    }
    assert_eq!(
        verified.expired,
        verified.claims.expires_at.is_some_and(|exp| NOW >= exp)
    );
});
