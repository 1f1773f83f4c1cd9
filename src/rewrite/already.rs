//! Bodies rewritten before: links that already point at this tracker, and the pixel and
//! honeypot an earlier rewrite inserted, so that rewriting twice tracks nothing twice.

use memchr::memmem;

use crate::link::Tracker;
use crate::token::{Kind, MAX_TOKEN_LEN};

use super::HONEYPOT_LABEL;

/// The URL prefixes of one tracker's click, open and unsubscribe routes.
pub(crate) struct OwnUrls {
    /// `{base}/c/`: what precedes every click token.
    pub(crate) click: String,
    /// `{base}/o/`: what precedes every open token.
    open: String,
    /// `{base}/u/`: what precedes every unsubscribe token.
    pub(crate) unsubscribe: String,
    /// Length of the base's scheme and authority, which compare in any case.
    origin_len: usize,
}

/// What an earlier rewrite by the same tracker left in a body.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Earlier {
    /// The body references this tracker's open pixel.
    pub(crate) pixel: bool,
    /// The body holds this tracker's honeypot link.
    pub(crate) honeypot: bool,
}

impl OwnUrls {
    pub(crate) fn new(tracker: &Tracker) -> Self {
        Self {
            click: tracker.token_prefix(Kind::Click),
            open: tracker.token_prefix(Kind::Open),
            unsubscribe: tracker.token_prefix(Kind::Unsubscribe),
            origin_len: tracker
                .base_url()
                .len()
                .saturating_sub(tracker.path_prefix().len()),
        }
    }

    /// Whether an href (entity-decoded and trimmed) is a click or open URL of this
    /// tracker: the base URL, scheme and host in any case, then the click or open route.
    pub(crate) fn is_tracking_url(&self, href: &str) -> bool {
        [&self.click, &self.open]
            .into_iter()
            .any(|prefix| self.is_under(href, prefix))
    }

    /// Whether an href is or holds an unsubscribe URL of this tracker: a `GET` of it
    /// never unsubscribes, but tracking it would only hide where it goes. Held inside
    /// another URL (where an earlier rewrite filled in an unsubscribe placeholder), it
    /// is looked for as this crate writes it.
    pub(crate) fn holds_unsubscribe_url(&self, href: &str) -> bool {
        self.is_under(href, &self.unsubscribe) || href.contains(self.unsubscribe.as_str())
    }

    /// Whether an href starts with one of the prefixes, its scheme and host in any case.
    fn is_under(&self, href: &str, prefix: &str) -> bool {
        let (Some(origin), Some(path)) = (href.get(..self.origin_len), href.get(self.origin_len..)) else {
            return false;
        };
        origin.eq_ignore_ascii_case(prefix.get(..self.origin_len).unwrap_or_default())
            && path.starts_with(prefix.get(self.origin_len..).unwrap_or_default())
    }

    /// Looks for what this crate's rewrite inserts, byte for byte as it writes it: the
    /// open URL, and a click URL whose link field is the honeypot label.
    pub(crate) fn earlier(&self, source: &[u8]) -> Earlier {
        let honeypot = memmem::find_iter(source, self.click.as_bytes()).any(|at| {
            let token = source.get(at + self.click.len()..).unwrap_or_default();
            let token = token.get(..MAX_TOKEN_LEN).unwrap_or(token);
            // Token fields: version and purpose, key id, campaign, link, …
            token.split(|&b| b == b'.').nth(3) == Some(HONEYPOT_LABEL.as_bytes())
        });
        Earlier {
            pixel: memmem::find(source, self.open.as_bytes()).is_some(),
            honeypot,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Key, KeyId};

    fn own() -> OwnUrls {
        let key = Key::new(KeyId::new("k1").unwrap(), &[7; 32]).unwrap();
        OwnUrls::new(&Tracker::new(key.into(), "https://T.example.com/hb").unwrap())
    }

    #[test]
    fn recognizes_this_trackers_routes_only() {
        let own = own();
        for ours in [
            "https://t.example.com/hb/c/1c.k1.x.0..1..tag?https://a.example/",
            "HTTPS://T.EXAMPLE.COM/hb/o/1o.k1.x...1..tag.gif",
            "https://t.example.com/hb/c/",
        ] {
            assert!(own.is_tracking_url(ours), "{ours}");
        }
        assert!(own.holds_unsubscribe_url("HTTPS://t.EXAMPLE.com/hb/u/1u.k1.x..AAAAAAAAAAAAAAAA.1..tag"));
        assert!(own.holds_unsubscribe_url("https://a.example/leave?next=https://t.example.com/hb/u/1u.k1"));
        assert!(!own.is_tracking_url("https://t.example.com/hb/u/1u.k1.x..AAAAAAAAAAAAAAAA.1..tag"));
        assert!(
            !own.holds_unsubscribe_url("https://t.example.com/hb/c/1c.k1.x.0..1..tag?https://a.example/")
        );
        assert!(!own.holds_unsubscribe_url("https://a.example/leave?next=https://t.example.com/hb/c/1c"));
        for other in [
            "https://t.example.com/HB/c/1c",
            "https://t.example.com/hb/privacy",
            "https://t.example.com/hbc/",
            "https://t.example.com.evil.example/hb/c/1c",
            "http://t.example.com/hb/c/1c",
            "https://a.example/?u=https://t.example.com/hb/c/1c",
            "https://t.example.com",
            "",
        ] {
            assert!(!own.is_tracking_url(other), "{other}");
        }
    }

    #[test]
    fn finds_an_earlier_pixel_and_honeypot() {
        let own = own();
        assert_eq!(own.earlier(b"<p>no tracking</p>"), Earlier::default());
        let pixel = br#"<img src="https://t.example.com/hb/o/1o.k1.x...1..tag.gif">"#;
        assert_eq!(
            own.earlier(pixel),
            Earlier {
                pixel: true,
                honeypot: false
            }
        );
        let honeypot = br#"<a href="https://t.example.com/hb/c/1c.k1.x.hbhoneypot..1..tag?https://t.example.com/hb/"></a>"#;
        assert!(own.earlier(honeypot).honeypot);
        let link = br#"<a href="https://t.example.com/hb/c/1c.k1.x.hbhoneypot2..1..tag?https://a.example/">"#;
        assert!(!own.earlier(link).honeypot);
    }
}
