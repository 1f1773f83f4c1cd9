//! What verification enforces on an authenticated destination's wire form, and the
//! `Location` built from it, both without decoding into a buffer.
//!
//! The MAC proves that a key holder signed these bytes, not that they are a wire form
//! this crate would write. A destination is accepted only when the wire form is the
//! canonical encoding (as [`super::encode_destination`] writes it) of a UTF-8
//! destination that passes [`super::check_destination`]. So the endpoint and `inspect`
//! reach one verdict, and no signer of another make can get a `javascript:` URL, a
//! header-splitting control character or an ambiguous escape redirected to.

use percent_encoding::percent_decode;

use super::{all_raw, check_scheme_and_authority_bytes, is_raw};
use crate::error::VerifyError;

/// Why an authenticated destination was refused: it is not one a tracker signs.
const NOT_HTTP: VerifyError = VerifyError::Malformed("destination is not an http(s) URL with an authority");
const NOT_CANONICAL: VerifyError = VerifyError::Malformed("destination wire form is not canonical");
const CONTROLS: VerifyError = VerifyError::Malformed("destination contains control characters");

/// Value of an uppercase hex digit; lowercase is not canonical.
fn upper_hex(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// What one scan of a canonical wire form learned.
struct Scan {
    /// Some escape decodes to a byte ≥ 0x80: the decoded text needs a UTF-8 check.
    non_ascii: bool,
    /// Some escape decodes to an ASCII control character.
    control: bool,
}

/// Checks that `wire` is canonical: raw bytes only from the raw set, every other byte
/// as `%XX` with uppercase hex, and no escape of a byte that stands raw.
fn scan(wire: &[u8]) -> Result<Scan, VerifyError> {
    let mut found = Scan {
        non_ascii: false,
        control: false,
    };
    let mut bytes = wire.iter();
    while let Some(&byte) = bytes.next() {
        if byte != b'%' {
            if !is_raw(byte) {
                return Err(NOT_CANONICAL);
            }
            continue;
        }
        let (Some(high), Some(low)) = (
            bytes.next().and_then(|&d| upper_hex(d)),
            bytes.next().and_then(|&d| upper_hex(d)),
        ) else {
            return Err(NOT_CANONICAL);
        };
        let decoded = (high << 4) | low;
        if is_raw(decoded) {
            return Err(NOT_CANONICAL);
        }
        found.non_ascii |= decoded >= 0x80;
        found.control |= decoded.is_ascii_control();
    }
    Ok(found)
}

/// Whether the percent-decoding of `wire` is UTF-8, checked a chunk at a time on the
/// stack rather than in a decoded copy.
fn decodes_to_utf8(wire: &[u8]) -> bool {
    let mut buffer = [0u8; 256];
    // Bytes of a character cut by the previous chunk's end, moved to the front.
    let mut carried = 0;
    let mut decoded = percent_decode(wire).peekable();
    loop {
        let mut filled = carried;
        for slot in buffer.iter_mut().skip(carried) {
            match decoded.next() {
                Some(byte) => *slot = byte,
                None => break,
            }
            filled += 1;
        }
        let chunk = buffer.get(..filled).unwrap_or_default();
        let last = decoded.peek().is_none();
        match std::str::from_utf8(chunk) {
            Ok(_) if last => return true,
            Ok(_) => carried = 0,
            // An incomplete character at the end of a chunk that is not the last.
            Err(error) if error.error_len().is_none() && !last => {
                let valid = error.valid_up_to();
                carried = filled - valid;
                buffer.copy_within(valid..filled, 0);
            }
            Err(_) => return false,
        }
    }
}

/// Checks an authenticated wire form (see the module docs).
pub(crate) fn check_wire(wire: &str) -> Result<(), VerifyError> {
    let bytes = wire.as_bytes();
    // Most destinations have no escape: canonical when every byte is raw (`%` is not),
    // which also rules out controls and non-ASCII. Otherwise the scan says what is wrong.
    if all_raw(bytes) {
        return check_scheme_and_authority_bytes(bytes).map_err(|_| NOT_HTTP);
    }
    let found = scan(bytes)?;
    if found.non_ascii && !decodes_to_utf8(bytes) {
        return Err(VerifyError::Malformed("destination is not UTF-8"));
    }
    // The scheme and the start of the authority: `https://` and one more byte.
    let mut head = [0u8; 9];
    let mut len = 0;
    for (slot, byte) in head.iter_mut().zip(percent_decode(bytes)) {
        *slot = byte;
        len += 1;
    }
    check_scheme_and_authority_bytes(head.get(..len).unwrap_or_default()).map_err(|_| NOT_HTTP)?;
    if found.control {
        return Err(CONTROLS);
    }
    Ok(())
}

/// The `Location` for a checked wire form, in one allocation of at most the wire's
/// length: escapes of visible ASCII are decoded, every other escape (space, controls,
/// non-ASCII bytes) stays as it is, which is exactly [`super::location`] of the decoded
/// destination.
pub(crate) fn location_from_wire(wire: &str) -> String {
    let mut out = String::with_capacity(wire.len());
    let mut rest = wire;
    while let Some(at) = memchr::memchr(b'%', rest.as_bytes()) {
        out.push_str(rest.get(..at).unwrap_or_default());
        let escape = rest.get(at..at + 3).unwrap_or_default();
        let decoded = escape
            .as_bytes()
            .get(1..)
            .and_then(|hex| Some((upper_hex(*hex.first()?)? << 4) | upper_hex(*hex.get(1)?)?));
        match decoded {
            Some(byte) if byte.is_ascii_graphic() => out.push(char::from(byte)),
            _ => out.push_str(escape),
        }
        rest = rest.get(at + escape.len().max(1)..).unwrap_or_default();
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::{encode_destination, location};
    use proptest::prelude::*;

    #[test]
    fn non_canonical_wire_forms_are_rejected() {
        for wire in [
            "https://a.example/%zz",
            "https://a.example/%",
            "https://a.example/%4",
            "https://a.example/%2f",
            "https://a.example/%41",
            "https://a.example/a b",
            "https://a.example/#x",
            "https://a.example/'",
            "https://a.example/\u{e9}",
        ] {
            assert_eq!(
                check_wire(wire),
                Err(VerifyError::Malformed("destination wire form is not canonical")),
                "{wire:?}"
            );
        }
    }

    #[test]
    fn destinations_a_tracker_never_signs_are_rejected() {
        let cases = [
            (
                "https://a.example/%FF",
                VerifyError::Malformed("destination is not UTF-8"),
            ),
            (
                "https://a.example/%C3",
                VerifyError::Malformed("destination is not UTF-8"),
            ),
            (
                "https://a.example/%ED%A0%80",
                VerifyError::Malformed("destination is not UTF-8"),
            ),
            ("javascript:alert(1)", NOT_HTTP),
            ("https:///path", NOT_HTTP),
            ("https://%23frag", NOT_HTTP),
            ("https://a.example/%0D%0AX:1", CONTROLS),
            ("https://a.example/%7F", CONTROLS),
        ];
        for (wire, expected) in cases {
            assert_eq!(check_wire(wire), Err(expected), "{wire:?}");
        }
        assert_eq!(check_wire("HTTPS://a.example/%C3%A9%20%23"), Ok(()));
    }

    #[test]
    fn utf8_is_checked_across_chunk_boundaries() {
        // A three-byte character straddling the 256-byte chunk edge, at every offset.
        for pad in 250..260 {
            let destination = format!("https://a.example/{}\u{20ac}", "a".repeat(pad));
            let wire = encode_destination(&destination);
            assert_eq!(check_wire(&wire), Ok(()), "{pad}");
            let broken = wire.replace("%E2%82%AC", "%E2%82");
            assert!(check_wire(&broken).is_err(), "{pad}");
        }
    }

    proptest! {
        /// Every destination a tracker signs passes; its wire form is canonical, and the
        /// `Location` built from it equals the one built from the decoded destination.
        #[test]
        fn signed_destinations_pass_and_locate_alike(path in "\\PC{0,300}") {
            let destination = format!("https://a.example/{path}");
            let wire = encode_destination(&destination);
            prop_assert_eq!(check_wire(&wire), Ok(()));
            prop_assert_eq!(location_from_wire(&wire), location(&destination).into_owned());
        }

        /// On arbitrary text the check never panics, and whatever passes is the exact
        /// wire form of its own decoding.
        #[test]
        fn only_canonical_wire_forms_pass(wire in "(https://)?[a-zA-Z0-9%:/?#' \u{e9}\u{0}]{0,40}") {
            if check_wire(&wire).is_ok() {
                let decoded = crate::link::decode_destination(&wire).unwrap();
                prop_assert_eq!(encode_destination(&decoded), wire.as_str());
            }
        }
    }
}
