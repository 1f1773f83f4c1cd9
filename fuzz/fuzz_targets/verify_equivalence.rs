//! `Keyring::verify` against the reference verifier (`tests/reference`, the verifier as
//! it was before it authenticated first) on arbitrary input: the same verdict, accept
//! with the same claims or reject with the same error.
//!
//! Input as for `token_verify`, except that bit 1 of the purpose byte asks for the
//! token's last field to be replaced by the tag that is right for the rest of it, so
//! that texts of any shape reach the checks that run after the MAC.
#![no_main]

use std::sync::LazyLock;

use hashbeacon::Keyring;
use hashbeacon_fuzz::reference::{self, ReferenceKeyring};
use hashbeacon_fuzz::{NOW, keyring, reference_keyring, split_token_input};
use libfuzzer_sys::fuzz_target;

static RING: LazyLock<Keyring> = LazyLock::new(keyring);
static REFERENCE: LazyLock<ReferenceKeyring> = LazyLock::new(reference_keyring);

fuzz_target!(|data: &[u8]| {
    let Some((kind, token, destination)) = split_token_input(data) else {
        return;
    };
    let retagged = data
        .first()
        .filter(|&&selector| selector & 2 != 0)
        .and_then(|_| reference::with_correct_tag(&REFERENCE, "k1", kind, token, destination));
    let token = retagged.as_deref().unwrap_or(token);
    let ours = RING.verify(kind, token, destination, NOW);
    let theirs = reference::amended(REFERENCE.verify(kind, token, destination, NOW));
    assert_eq!(ours, theirs, "{kind:?} {token:?} {destination:?}");
});
