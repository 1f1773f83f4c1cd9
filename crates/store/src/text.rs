//! A raw row's text columns without a heap allocation where one can be avoided: text
//! borrowed from the event, or short text (a link index, an IPv4 address) kept in
//! place.

use std::fmt;
use std::net::IpAddr;

/// One text column of a raw row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Text<'a> {
    /// Text the event already holds.
    Borrowed(&'a str),
    /// Up to [`INLINE`] bytes, written in place.
    Inline(Inline),
    /// Anything else.
    Owned(String),
}

impl Text<'_> {
    /// The column's text.
    pub(crate) fn as_str(&self) -> &str {
        match self {
            Text::Borrowed(text) => text,
            Text::Inline(inline) => inline.as_str(),
            Text::Owned(text) => text,
        }
    }

    /// The column's text as SQLite binds it (bytes, which short text is kept as).
    pub(crate) fn as_value(&self) -> rusqlite::types::ValueRef<'_> {
        rusqlite::types::ValueRef::Text(match self {
            Text::Borrowed(text) => text.as_bytes(),
            Text::Inline(inline) => inline.as_bytes(),
            Text::Owned(text) => text.as_bytes(),
        })
    }

    /// A number's decimal digits, as `Display` writes them.
    pub(crate) fn decimal(n: u32) -> Self {
        // The digits from the last; u32::MAX has ten.
        let mut digits = [0u8; 10];
        let mut start = digits.len();
        let mut rest = n;
        for slot in digits.iter_mut().rev() {
            *slot = b'0' + (rest % 10) as u8;
            start -= 1;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        Text::Inline(Inline::ascii(digits.get(start..).unwrap_or_default()))
    }

    /// An address as `Display` writes it; an IPv4 address (the usual case, and
    /// already truncated by the endpoint) in place and without the formatting
    /// machinery, which cost the writer more than any other column.
    pub(crate) fn ip(ip: IpAddr) -> Self {
        let IpAddr::V4(v4) = ip else {
            return Text::Owned(ip.to_string());
        };
        // At most 15 bytes: four octets of three digits and three dots.
        let mut text = [0u8; INLINE];
        let mut len = 0;
        let mut push = |byte: u8| {
            if let Some(slot) = text.get_mut(len) {
                *slot = byte;
                len += 1;
            }
        };
        for (i, octet) in v4.octets().into_iter().enumerate() {
            if i > 0 {
                push(b'.');
            }
            if octet >= 100 {
                push(b'0' + octet / 100);
            }
            if octet >= 10 {
                push(b'0' + octet / 10 % 10);
            }
            push(b'0' + octet % 10);
        }
        Text::Inline(Inline::ascii(text.get(..len).unwrap_or_default()))
    }
}

/// How many bytes [`Inline`] holds: an IPv4 address's longest text.
const INLINE: usize = 15;

/// Up to [`INLINE`] bytes of ASCII text.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Inline {
    bytes: [u8; INLINE],
    len: u8,
}

impl Inline {
    /// `ascii` in place; callers pass at most [`INLINE`] ASCII bytes (more are cut,
    /// and a test holds every caller to the limit).
    fn ascii(ascii: &[u8]) -> Self {
        let mut bytes = [0u8; INLINE];
        let len = ascii.len().min(INLINE);
        bytes.iter_mut().zip(ascii).for_each(|(slot, &byte)| *slot = byte);
        Self {
            bytes,
            len: len as u8,
        }
    }

    fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or_default()
    }

    fn as_str(&self) -> &str {
        // Only ASCII digits and dots are written, so this never falls back.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }
}

impl fmt::Debug for Inline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Addresses read as `Display` writes them, IPv4 in place.
        #[test]
        fn addresses_read_as_display_writes_them(ip: IpAddr) {
            let text = Text::ip(ip);
            let display = ip.to_string();
            prop_assert_eq!(text.as_str(), &display);
            prop_assert_eq!(text.as_value(), rusqlite::types::ValueRef::Text(display.as_bytes()));
            prop_assert_eq!(matches!(text, Text::Inline(_)), ip.is_ipv4());
        }

        /// Numbers read as `Display` writes them.
        #[test]
        fn numbers_read_as_display_writes_them(n: u32) {
            let text = Text::decimal(n);
            let display = n.to_string();
            prop_assert_eq!(text.as_str(), &display);
            prop_assert_eq!(text.as_value(), rusqlite::types::ValueRef::Text(display.as_bytes()));
        }
    }

    #[test]
    fn the_longest_inline_texts_fit() {
        assert_eq!(
            Text::ip("255.255.255.255".parse().unwrap()).as_str(),
            "255.255.255.255"
        );
        assert_eq!(Text::decimal(u32::MAX).as_str(), "4294967295");
        assert_eq!(Text::decimal(0).as_str(), "0");
    }
}
