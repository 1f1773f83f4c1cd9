//! Links that are left as the author wrote them: template placeholders, unsubscribe
//! links and links carrying an opt-out attribute.

/// Our own opt-out attribute: `<a href="…" data-hb-notrack>`. Removed from the output.
pub const NO_TRACK_ATTRIBUTE: &str = "data-hb-notrack";
/// Our own link label attribute: `<a href="…" data-hb-link="cta">`. Removed from the output.
pub const LINK_LABEL_ATTRIBUTE: &str = "data-hb-link";

/// How an opt-out attribute's value is read.
#[derive(Clone, Copy)]
enum OptOutRule {
    /// Present means "do not track", unless the value says `false`, `no`, `off` or `0`.
    Presence,
    /// Only a value of `off`, `false`, `no` or `0` means "do not track".
    OffValue,
}

/// The opt-out attributes of this crate and of the services authors migrate from.
const OPT_OUT_ATTRIBUTES: [(&str, OptOutRule); 7] = [
    (NO_TRACK_ATTRIBUTE, OptOutRule::Presence),
    ("clicktracking", OptOutRule::OffValue),                // SendGrid
    ("data-pm-no-track", OptOutRule::Presence),             // Postmark
    ("disable-tracking", OptOutRule::Presence),             // Mailgun
    ("ses:no-track", OptOutRule::Presence),                 // Amazon SES
    ("mc:disable-tracking", OptOutRule::Presence),          // Mandrill
    ("data-mautic-disable-tracking", OptOutRule::Presence), // Mautic
];

/// The names of every recognized opt-out attribute, for documentation and reports.
pub fn opt_out_attributes() -> impl Iterator<Item = &'static str> {
    OPT_OUT_ATTRIBUTES.iter().map(|(name, _)| *name)
}

/// Which opt-out attribute, if any, turns tracking off, given a lookup of an
/// attribute's (entity-decoded) value: `Some("")` for a bare attribute.
pub(crate) fn opted_out<'v>(value_of: impl Fn(&str) -> Option<&'v str>) -> Option<&'static str> {
    OPT_OUT_ATTRIBUTES.iter().find_map(|&(name, rule)| {
        let value = value_of(name)?;
        let value = value.trim_matches(|c: char| c.is_ascii_whitespace());
        let off = ["off", "false", "no", "0"]
            .iter()
            .any(|word| value.eq_ignore_ascii_case(word));
        let opts_out = match rule {
            OptOutRule::Presence => !off,
            OptOutRule::OffValue => off,
        };
        opts_out.then_some(name)
    })
}

/// Whether a destination holds a template placeholder that a later templating step
/// would fill in: `{{…}}`, `{%…%}`, `{$…}` (any raw `{` or `}`), `*|…|*`, `<%…%>`,
/// `%NAME%` (a `%` that does not start a percent-escape, then a name, then `%`) or
/// `[name]` (a name in square brackets; IPv6 hosts are not names).
///
/// Signing such a URL would break its MAC when the placeholder is filled in, so a false
/// alarm (an untracked link) is the cheaper mistake.
pub(crate) fn has_placeholder(href: &str) -> bool {
    let bytes = href.as_bytes();
    let name = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.');
    // One pass over the bytes; only the few marker bytes look at what follows.
    bytes.iter().enumerate().any(|(at, &b)| {
        if !matches!(b, b'{' | b'}' | b'*' | b'<' | b'%' | b'[') {
            return false;
        }
        let rest = bytes.get(at + 1..).unwrap_or_default();
        match b {
            b'{' | b'}' => true,
            b'*' => rest.first() == Some(&b'|'),
            b'<' => rest.first() == Some(&b'%'),
            b'%' => {
                let escape = matches!(rest, [a, b, ..] if a.is_ascii_hexdigit() && b.is_ascii_hexdigit());
                let len = rest.iter().take_while(|b| name(b)).count();
                !escape && len > 0 && rest.get(len) == Some(&b'%')
            }
            _ => {
                let len = rest
                    .iter()
                    .take_while(|b| name(b) || **b == b' ' || **b == b',')
                    .count();
                len > 0 && rest.get(len) == Some(&b']')
            }
        }
    })
}

/// Words in an href that mark an unsubscribe or opt-out endpoint (ASCII, lowercase).
static UNSUBSCRIBE_IN_URL: Needles<7> = Needles::new([
    "unsub",
    "optout",
    "opt-out",
    "opt_out",
    "abmelden",
    "desinscri",
    "desabonn",
]);
/// Words in a link's text (or the text before a URL in a plain-text part) that mark it.
static UNSUBSCRIBE_IN_TEXT: Needles<7> = Needles::new([
    "unsubscribe",
    "opt out",
    "opt-out",
    "abmelden",
    "désabonner",
    "desinscri",
    "darse de baja",
]);

/// Recognizes unsubscribe wording.
pub(crate) struct Unsubscribe;

impl Unsubscribe {
    pub(crate) fn new() -> Self {
        Self
    }

    /// Whether an href points at an unsubscribe or opt-out endpoint.
    pub(crate) fn in_url(&self, href: &str) -> bool {
        UNSUBSCRIBE_IN_URL.in_ignoring_ascii_case(href.as_bytes())
    }

    /// Whether a link's text (raw markup is fine) says it unsubscribes.
    pub(crate) fn in_text(&self, text: &[u8]) -> bool {
        UNSUBSCRIBE_IN_TEXT.in_ignoring_ascii_case(text)
    }
}

/// Up to eight lowercase needles of two bytes or more, with tables of which needles
/// each byte can start or continue (in either ASCII case).
///
/// A link's text is often kilobytes of markup in which the needles' first letters are
/// common: looking up a position's two bytes rules out nearly every position with two
/// table loads, where comparing each needle's first byte took a dozen instructions.
struct Needles<const N: usize> {
    needles: [&'static str; N],
    /// Bit `i` of entry `b`: needle `i` starts with `b`.
    first: [u8; 256],
    /// Bit `i` of entry `b`: needle `i`'s second byte is `b`.
    second: [u8; 256],
}

/// Sets `bit` in the entries of `b` in either ASCII case.
#[allow(clippy::indexing_slicing, reason = "a u8 indexes the 256 entries")]
const fn mark(table: &mut [u8; 256], b: u8, bit: u8) {
    table[b.to_ascii_lowercase() as usize] |= bit;
    table[b.to_ascii_uppercase() as usize] |= bit;
}

impl<const N: usize> Needles<N> {
    #[allow(
        clippy::indexing_slicing,
        reason = "compile time: an index out of bounds fails the build"
    )]
    const fn new(needles: [&'static str; N]) -> Self {
        assert!(N <= 8, "a needle is a bit of a u8");
        let (mut first, mut second) = ([0; 256], [0; 256]);
        let mut i = 0;
        while i < N {
            let needle = needles[i].as_bytes();
            assert!(needle.len() >= 2, "needles are looked up by two bytes");
            let bit = 1 << i;
            mark(&mut first, needle[0], bit);
            mark(&mut second, needle[1], bit);
            i += 1;
        }
        Self {
            needles,
            first,
            second,
        }
    }

    /// Whether any needle occurs in `haystack`, ignoring ASCII case. One pass, no
    /// allocation.
    fn in_ignoring_ascii_case(&self, haystack: &[u8]) -> bool {
        let entry = |table: &[u8; 256], b: u8| table.get(usize::from(b)).copied().unwrap_or(0);
        let pairs = haystack.iter().zip(haystack.iter().skip(1));
        pairs.enumerate().any(|(at, (&a, &b))| {
            let mut candidates = entry(&self.first, a) & entry(&self.second, b);
            while candidates != 0 {
                let i = candidates.trailing_zeros() as usize;
                candidates &= candidates - 1;
                let needle = self.needles.get(i).map_or(&b""[..], |needle| needle.as_bytes());
                let window = haystack.get(at..at + needle.len());
                if window.is_some_and(|window| window.eq_ignore_ascii_case(needle)) {
                    return true;
                }
            }
            false
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn finds_every_placeholder_syntax() {
        for href in [
            "{{action_url}}",
            "https://x.example/?u={{ id }}",
            "https://x.example/{% url %}",
            "https://x.example/?e={$email}",
            "https://x.example/?e=${email}",
            "*|UNSUB|*",
            "https://x.example/?e=*|EMAIL|*",
            "<%asm_global_unsubscribe_raw_url%>",
            "https://x.example/?e=%EMAIL%",
            "[Unsubscribe_Preferences]",
            "https://x.example/?n=[first name]",
        ] {
            assert!(has_placeholder(href), "{href}");
        }
    }

    #[test]
    fn real_urls_are_not_placeholders() {
        for href in [
            "https://x.example/a%20b%2Fc?q=%41%42%",
            "https://[2001:db8::1]:8080/p?a[]=1",
            "https://x.example/?q=100%&r=50%",
            "https://x.example/%E2%82%AC%",
        ] {
            assert!(!has_placeholder(href), "{href}");
        }
    }

    #[test]
    fn reads_opt_out_attributes_in_any_value_form() {
        let bare = |name: &'static str| move |n: &str| (n == name).then_some("");
        assert_eq!(opted_out(bare("data-hb-notrack")), Some("data-hb-notrack"));
        assert_eq!(opted_out(bare("ses:no-track")), Some("ses:no-track"));
        assert_eq!(opted_out(bare("clicktracking")), None);
        for value in ["off", "OFF", " Off ", "false", "0", "no"] {
            assert_eq!(
                opted_out(|n| (n == "clicktracking").then_some(value)),
                Some("clicktracking")
            );
        }
        assert_eq!(opted_out(|n| (n == "clicktracking").then_some("on")), None);
        for value in ["true", "TRUE", "", "yes", "1"] {
            assert_eq!(
                opted_out(|n| (n == "disable-tracking").then_some(value)),
                Some("disable-tracking")
            );
        }
        assert_eq!(opted_out(|n| (n == "disable-tracking").then_some("false")), None);
        assert_eq!(opted_out(|_| None), None);
    }

    /// Whether some needle is a substring of `haystack` ignoring ASCII case, by the
    /// definition.
    fn naive(needles: &Needles<7>, haystack: &[u8]) -> bool {
        needles.needles.iter().any(|needle| {
            haystack
                .windows(needle.len())
                .any(|window| window.eq_ignore_ascii_case(needle.as_bytes()))
        })
    }

    /// Haystacks made of pieces of the needles (in any case) and arbitrary bytes.
    fn haystack() -> impl Strategy<Value = Vec<u8>> {
        let pieces = prop_oneof![
            prop::sample::select(vec![
                "un",
                "UnSub",
                "sub",
                "opt",
                "OPT",
                " out",
                "-out",
                "_Out",
                "ab",
                "Abmelden",
                "d",
                "dé",
                "DÉSABONNER",
                "desin",
                "scri",
                "desabonn",
                "darse de",
                " baja",
                "subscribe",
                "x",
            ])
            .prop_map(|piece| piece.as_bytes().to_vec()),
            proptest::collection::vec(any::<u8>(), 0..4),
        ];
        proptest::collection::vec(pieces, 0..12).prop_map(|pieces| pieces.concat())
    }

    proptest! {
        #[test]
        fn finds_a_needle_exactly_where_one_occurs(haystack in haystack()) {
            for needles in [&UNSUBSCRIBE_IN_URL, &UNSUBSCRIBE_IN_TEXT] {
                prop_assert_eq!(needles.in_ignoring_ascii_case(&haystack), naive(needles, &haystack));
            }
        }
    }

    #[test]
    fn recognizes_unsubscribe_links() {
        let unsubscribe = Unsubscribe::new();
        assert!(unsubscribe.in_url("https://x.example/unsub_center.aspx?qs=1"));
        assert!(unsubscribe.in_url("https://x.example/Unsubscribe?u=1"));
        assert!(unsubscribe.in_url("https://x.example/email/OPT-OUT"));
        assert!(!unsubscribe.in_url("https://x.example/subscribe"));
        assert!(unsubscribe.in_text(b"<span>Click to UnSubscribe</span>"));
        assert!(unsubscribe.in_text("Se désabonner".as_bytes()));
        assert!(!unsubscribe.in_text(b"Subscribe now"));
    }
}
