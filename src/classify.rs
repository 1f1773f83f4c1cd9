//! Classification: was a tracked request a person, a mail client's proxy, or a machine?
//!
//! [`Classifier::classify`] is a pure function of the request's facts and the token's
//! issued-at. Its [`Verdict`] is recorded in the event and never used to refuse a
//! redirect or the pixel: a false "scanner" must not cost a reader their link.
//!
//! # Signals
//!
//! Checked in this order; the first that matches decides.
//!
//! | Signal | Applies to | Verdict | Source |
//! | --- | --- | --- | --- |
//! | `HEAD` method | both | scanner | RFC 9110 §9.3.2: `HEAD` asks for headers only; browsers navigate and load images with `GET`, link checkers and gateways probe with `HEAD` |
//! | link labelled [`HONEYPOT_LABEL`] | clicks | scanner | a link the rewriter hides from people (`display:none`, no text): only a crawler follows it |
//! | no `User-Agent` | both | scanner | every browser and mail client sends one (RFC 9110 §10.1.5 "SHOULD"); scripts often do not |
//! | HTTP library user agent (`curl/`, `Wget/`, `python-requests/`, `Python-urllib/`, `python-httpx/`, `aiohttp/`, `Go-http-client/`, `Java/`, `Apache-HttpClient/`, `okhttp/`, `axios/`, `node-fetch/`, `libwww-perl/`) | both | scanner | the default `User-Agent` each library documents; a person's browser never sends these |
//! | security product in the user agent (`Mimecast`, `Barracuda`, `Proofpoint`, `BingPreview`, `HeadlessChrome`) | both | scanner | product tokens reported in tracking logs by ESPs and deliverability engineers; `BingPreview` is Microsoft's preview fetcher; `HeadlessChrome` is the token headless Chrome sandboxes send |
//! | Microsoft Office in the user agent (`ms-office`, `Microsoft Office`) | clicks | scanner | Microsoft Safe Links' time-of-click check and Office's link "existence discovery" request announce themselves so; the person's own click follows in their browser. (Outlook desktop loads *images* with this user agent, so it is not a signal for opens.) |
//! | `GoogleImageProxy` in the user agent | opens | proxied | Gmail fetches images through its proxy (`… (via ggpht.com GoogleImageProxy)`) when the reader opens the message |
//! | `YahooMailProxy` in the user agent | opens | proxied | Yahoo Mail's image proxy, whose user agent links its help page (`YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html`) |
//! | user agent exactly `Mozilla/5.0` | opens | prefetch | Apple Mail Privacy Protection loads every image on delivery through Apple's relays with this bare user agent (SocketLabs, "Identifying Apple MPP opens") |
//! | click within [`Classifier::min_click_delay`] seconds of issue | clicks | scanner | inbound gateways (Safe Links detonation, Mimecast, Proofpoint) follow every link seconds after delivery, often with an ordinary browser user agent |
//! | none of the above | both | human | |
//!
//! A request whose token was rejected is not classified: its verdict is
//! [`Verdict::Rejected`], which no figure counts as a person.
//!
//! Product tokens in a user agent (the rows that say "in the user agent") match as words, in any ASCII
//! case: at the start of the user agent or after a space, `(` or `;`.
//!
//! Caveats: user agents can be forged and many scanners imitate browsers, so "human"
//! means "no machine signal", not proof. The timing signal measures from the token's
//! issued-at, so it is only as sharp as the gap between signing and delivery: senders
//! that sign long before sending should lower it (0 turns it off).

use crate::StaticStr;
use crate::method::Method;
use crate::token::{Kind, LinkId};

/// The link label of the honeypot link: a click on `…/c/<token>` whose link id is this
/// label is by construction a machine's.
pub const HONEYPOT_LABEL: &str = "hbhoneypot";

/// Default for [`Classifier::min_click_delay`], seconds.
pub const DEFAULT_MIN_CLICK_DELAY: u64 = 5;

/// The facts about one request that classification looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Facts<'a> {
    /// Click, open or unsubscribe.
    pub kind: Kind,
    /// The request method.
    pub method: Method,
    /// The `User-Agent` header, if any.
    pub user_agent: Option<&'a str>,
    /// The authenticated link id (clicks with a valid token).
    pub link: Option<LinkId<'a>>,
    /// The authenticated issued-at (requests with a valid token).
    pub issued_at: Option<u64>,
    /// When the request arrived, unix seconds.
    pub received_at: u64,
}

/// Who made a tracked request, with the signal that decided it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum Verdict {
    /// No machine signal matched: most likely a person.
    Human,
    /// A real open, fetched through a mail provider's image proxy (Gmail, Yahoo).
    Proxied(Signal),
    /// A machine open: images loaded on delivery whether or not anyone reads the
    /// message (Apple Mail Privacy Protection).
    Prefetch(Signal),
    /// A scanner, security gateway, link checker or script.
    Scanner(Signal),
    /// The token was rejected (forged, tampered, unknown key, …): whoever sent it, the
    /// request is no reader's action on a message. Never counted as a person.
    Rejected,
}

impl Verdict {
    /// `"human"`, `"proxied"`, `"prefetch"`, `"scanner"` or `"rejected"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Human => "human",
            Verdict::Proxied(_) => "proxied",
            Verdict::Prefetch(_) => "prefetch",
            Verdict::Scanner(_) => "scanner",
            Verdict::Rejected => "rejected",
        }
    }

    /// The signal that decided the verdict; `None` for [`Verdict::Human`] and
    /// [`Verdict::Rejected`].
    pub fn signal(self) -> Option<Signal> {
        match self {
            Verdict::Human | Verdict::Rejected => None,
            Verdict::Proxied(signal) | Verdict::Prefetch(signal) | Verdict::Scanner(signal) => Some(signal),
        }
    }

    /// Why, in words: the signal's description, `"no machine signal"` or `"token
    /// rejected"`.
    pub fn reason(self) -> &'static str {
        match self {
            Verdict::Rejected => "token rejected",
            _ => self.signal().map_or("no machine signal", Signal::description),
        }
    }

    /// Whether the verdict counts as a person's action (a human, or a real open
    /// through a proxy).
    pub fn is_person(self) -> bool {
        matches!(self, Verdict::Human | Verdict::Proxied(_))
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.signal() {
            None => f.write_str(self.as_str()),
            Some(signal) => write!(f, "{}: {signal}", self.as_str()),
        }
    }
}

/// A classification signal (see the table in the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum Signal {
    /// The request used `HEAD`.
    HeadRequest,
    /// A click on the honeypot link.
    Honeypot,
    /// No `User-Agent` header.
    NoUserAgent,
    /// An HTTP library's default user agent; names the library.
    HttpLibrary(
        #[cfg_attr(
            feature = "serde",
            serde(deserialize_with = "crate::serde_static::signal_name")
        )]
        StaticStr,
    ),
    /// A security product's user agent; names the product.
    SecurityScanner(
        #[cfg_attr(
            feature = "serde",
            serde(deserialize_with = "crate::serde_static::signal_name")
        )]
        StaticStr,
    ),
    /// A click sooner after issue than [`Classifier::min_click_delay`].
    ClickTooSoon,
    /// Gmail's image proxy.
    GmailImageProxy,
    /// Yahoo Mail's image proxy.
    YahooMailProxy,
    /// Apple Mail Privacy Protection.
    ApplePrivacyProtection,
}

impl Signal {
    /// A short description, e.g. `"HEAD request"`.
    pub fn description(self) -> &'static str {
        match self {
            Signal::HeadRequest => "HEAD request",
            Signal::Honeypot => "honeypot link",
            Signal::NoUserAgent => "no user agent",
            Signal::HttpLibrary(_) => "HTTP library user agent",
            Signal::SecurityScanner(_) => "security scanner user agent",
            Signal::ClickTooSoon => "click too soon after sending",
            Signal::GmailImageProxy => "Gmail image proxy",
            Signal::YahooMailProxy => "Yahoo Mail image proxy",
            Signal::ApplePrivacyProtection => "Apple Mail Privacy Protection",
        }
    }
}

impl std::fmt::Display for Signal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Signal::HttpLibrary(name) | Signal::SecurityScanner(name) => {
                write!(f, "{} ({name})", self.description())
            }
            _ => f.write_str(self.description()),
        }
    }
}

/// Which requests a user-agent token is a signal for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Applies {
    Both,
    Clicks,
    Opens,
}

impl Applies {
    fn to(self, kind: Kind) -> bool {
        match self {
            Applies::Both => true,
            Applies::Clicks => kind == Kind::Click,
            Applies::Opens => kind == Kind::Open,
        }
    }
}

/// User-agent prefixes of HTTP libraries (lowercase) and the library's name.
const HTTP_LIBRARIES: &[(&str, &str)] = &[
    ("curl/", "curl"),
    ("wget/", "Wget"),
    ("python-requests/", "python-requests"),
    ("python-urllib/", "Python urllib"),
    ("python-httpx/", "HTTPX"),
    ("aiohttp/", "aiohttp"),
    ("go-http-client/", "Go net/http"),
    ("java/", "Java"),
    ("apache-httpclient/", "Apache HttpClient"),
    ("okhttp/", "OkHttp"),
    ("axios/", "axios"),
    ("node-fetch/", "node-fetch"),
    ("libwww-perl/", "libwww-perl"),
];

/// User-agent tokens found anywhere in the user agent (lowercase), what they signal,
/// and for which requests.
const UA_TOKENS: &[(&str, Signal, Applies)] = &[
    ("googleimageproxy", Signal::GmailImageProxy, Applies::Opens),
    ("yahoomailproxy", Signal::YahooMailProxy, Applies::Opens),
    ("mimecast", Signal::SecurityScanner("Mimecast"), Applies::Both),
    ("barracuda", Signal::SecurityScanner("Barracuda"), Applies::Both),
    ("proofpoint", Signal::SecurityScanner("Proofpoint"), Applies::Both),
    (
        "bingpreview",
        Signal::SecurityScanner("Microsoft BingPreview"),
        Applies::Both,
    ),
    (
        "headlesschrome",
        Signal::SecurityScanner("headless Chrome"),
        Applies::Both,
    ),
    (
        "ms-office",
        Signal::SecurityScanner("Microsoft Safe Links"),
        Applies::Clicks,
    ),
    (
        "microsoft office",
        Signal::SecurityScanner("Microsoft Safe Links"),
        Applies::Clicks,
    ),
];

/// Every name a [`Signal::HttpLibrary`] or [`Signal::SecurityScanner`] can carry.
#[cfg(feature = "serde")]
pub(crate) fn signal_names() -> impl Iterator<Item = &'static str> {
    let libraries = HTTP_LIBRARIES.iter().map(|&(_, name)| name);
    let scanners = UA_TOKENS.iter().filter_map(|(_, signal, _)| match signal {
        Signal::HttpLibrary(name) | Signal::SecurityScanner(name) => Some(*name),
        _ => None,
    });
    libraries.chain(scanners)
}

/// Apple Mail Privacy Protection's whole user agent.
const APPLE_MPP_UA: &str = "Mozilla/5.0";

/// Classification settings.
///
/// ```
/// use hashbeacon::classify::{Classifier, Facts, Signal, Verdict};
/// use hashbeacon::{Kind, Method};
/// let classifier = Classifier { min_click_delay: 10 };
/// let facts = Facts { kind: Kind::Open, method: Method::Get, user_agent: Some("Mozilla/5.0"),
///                     link: None, issued_at: Some(1_000), received_at: 5_000 };
/// assert_eq!(classifier.classify(&facts), Verdict::Prefetch(Signal::ApplePrivacyProtection));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Classifier {
    /// A click sooner than this many seconds after the token was issued is a
    /// scanner's. Default [`DEFAULT_MIN_CLICK_DELAY`]; 0 turns the signal off.
    pub min_click_delay: u64,
}

impl Default for Classifier {
    fn default() -> Self {
        Self {
            min_click_delay: DEFAULT_MIN_CLICK_DELAY,
        }
    }
}

impl Classifier {
    /// Classifies one request. Pure: the same facts always give the same verdict.
    pub fn classify(&self, facts: &Facts<'_>) -> Verdict {
        if facts.method == Method::Head {
            return Verdict::Scanner(Signal::HeadRequest);
        }
        if facts.kind == Kind::Click && facts.link == Some(LinkId::Label(HONEYPOT_LABEL)) {
            return Verdict::Scanner(Signal::Honeypot);
        }
        // Blank means nothing but whitespace: one non-whitespace character at the start
        // settles it, so the end need not be looked at.
        let Some(user_agent) = facts.user_agent.filter(|ua| !ua.trim_start().is_empty()) else {
            return Verdict::Scanner(Signal::NoUserAgent);
        };
        if let Some(verdict) = classify_user_agent(user_agent, facts.kind) {
            return verdict;
        }
        let too_soon = facts
            .issued_at
            .is_some_and(|issued_at| facts.received_at.saturating_sub(issued_at) < self.min_click_delay);
        if facts.kind == Kind::Click && too_soon {
            return Verdict::Scanner(Signal::ClickTooSoon);
        }
        Verdict::Human
    }
}

/// The verdict a user agent alone decides, if any.
fn classify_user_agent(user_agent: &str, kind: Kind) -> Option<Verdict> {
    let bytes = user_agent.as_bytes();
    let starts_with = |prefix: &str| {
        bytes
            .get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
    };
    // Browsers, mail clients and most proxies start with `Mozilla/`; libraries never do.
    // Compared as one word: setting bit 5 of the seven letters' lanes lowercases them
    // and maps no other byte onto a letter; the `/` lane is compared as it is.
    let mozilla = bytes.first_chunk::<8>().is_some_and(|head| {
        u64::from_le_bytes(*head) | 0x0020_2020_2020_2020 == u64::from_le_bytes(*b"mozilla/")
    });
    if !mozilla && let Some((_, name)) = HTTP_LIBRARIES.iter().find(|(prefix, _)| starts_with(prefix)) {
        return Some(Verdict::Scanner(Signal::HttpLibrary(name)));
    }
    if let Some(signal) = find_token(bytes, kind) {
        return Some(match signal {
            Signal::GmailImageProxy | Signal::YahooMailProxy => Verdict::Proxied(signal),
            _ => Verdict::Scanner(signal),
        });
    }
    if kind == Kind::Open && user_agent.trim() == APPLE_MPP_UA {
        return Some(Verdict::Prefetch(Signal::ApplePrivacyProtection));
    }
    None
}

/// The first [`UA_TOKENS`] entry for `kind` that starts a word of the user agent,
/// ignoring ASCII case. A word starts the user agent or follows a space, `(` or `;`,
/// which is where product names and comment entries stand (RFC 9110 §10.1.5). It runs
/// on every redirect, so separators are found eight bytes at a time with word
/// arithmetic, and only word starts with a needle's initial are looked at (in a
/// browser's user agent, one or two), and compared only if their first two letters
/// are a needle's too (in the user agents of common browsers, none).
fn find_token(user_agent: &[u8], kind: Kind) -> Option<Signal> {
    // The start of the user agent is a word start, as if a separator stood before it.
    if let Some(signal) = token_at(user_agent, 0, kind) {
        return Some(signal);
    }
    let chunks = user_agent.chunks_exact(8);
    // A zero byte is no separator, so the short last chunk is padded with zeros.
    let mut last = [0u8; 8];
    last.iter_mut()
        .zip(chunks.remainder())
        .for_each(|(lane, &byte)| *lane = byte);
    let last_start = user_agent.len() - chunks.remainder().len();
    for (index, chunk) in chunks.enumerate() {
        let separators = separator_lanes(u64::from_le_bytes(chunk.try_into().unwrap_or_default()));
        if let Some(signal) = token_after_separators(user_agent, index * 8, separators, kind) {
            return Some(signal);
        }
    }
    token_after_separators(
        user_agent,
        last_start,
        separator_lanes(u64::from_le_bytes(last)),
        kind,
    )
}

/// The first [`UA_TOKENS`] entry for `kind` at a word start that follows a separator
/// marked in `separators` ([`separator_lanes`] of the eight bytes from `start`).
fn token_after_separators(
    user_agent: &[u8],
    start: usize,
    mut separators: u64,
    kind: Kind,
) -> Option<Signal> {
    while separators != 0 {
        let at = start + separators.trailing_zeros() as usize / 8 + 1;
        // Most words start with no needle's initial: only the others are looked at.
        if user_agent.get(at).is_some_and(|&byte| is_initial(byte))
            && let Some(signal) = token_at(user_agent, at, kind)
        {
            return Some(signal);
        }
        separators &= separators - 1;
    }
    None
}

/// The first [`UA_TOKENS`] entry for `kind` that the user agent has at `at`.
#[inline(never)]
fn token_at(user_agent: &[u8], at: usize, kind: Kind) -> Option<Signal> {
    let word = user_agent.get(at..)?;
    if !starts_like_a_needle(word) {
        return None;
    }
    let initial = word.first()? | 0x20;
    UA_TOKENS
        .iter()
        .find(|(needle, _, applies)| {
            needle.as_bytes().first() == Some(&initial)
                && applies.to(kind)
                && word
                    .get(..needle.len())
                    .is_some_and(|text| text.eq_ignore_ascii_case(needle.as_bytes()))
        })
        .map(|&(_, signal, _)| signal)
}

/// Whether `byte` is the first letter (either case) of some [`UA_TOKENS`] needle.
fn is_initial(byte: u8) -> bool {
    // `| 0x20` lowercases a capital and maps no other byte onto these letters.
    matches!(byte | 0x20, b'b' | b'g' | b'h' | b'm' | b'p' | b'y')
}

/// Whether `word` starts with the first two letters (either case) of some
/// [`UA_TOKENS`] needle. One letter is not enough to rule out a browser's words:
/// `Mozilla`, `Macintosh` and `Mac` share the `m` of three needles.
fn starts_like_a_needle(word: &[u8]) -> bool {
    let Some(&[first, second]) = word.first_chunk::<2>() else {
        return false;
    };
    // `| 0x20` lowercases a capital and maps no other byte onto a lowercase letter.
    matches!(
        [first | 0x20, second | 0x20],
        [b'b', b'a' | b'i'] | [b'g', b'o'] | [b'h', b'e'] | [b'm', b'i' | b's'] | [b'p', b'r'] | [b'y', b'a']
    )
}

/// The high bit of every byte of `word` that is a space, `(` or `;`, and no other bit.
fn separator_lanes(word: u64) -> u64 {
    const fn every_lane(byte: u8) -> u64 {
        u64::from_le_bytes([byte; 8])
    }
    // The high bit of every zero byte, exactly: adding 0x7f to the low seven bits
    // carries into the high bit of a lane that has any of them set, and never into
    // the next lane.
    let zero_lanes = |x: u64| !(((x & every_lane(0x7f)) + every_lane(0x7f)) | x | every_lane(0x7f));
    zero_lanes(word ^ every_lane(b' '))
        | zero_lanes(word ^ every_lane(b'('))
        | zero_lanes(word ^ every_lane(b';'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
                          (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
    const ISSUED: u64 = 1_767_225_600;

    fn facts(kind: Kind, user_agent: Option<&str>) -> Facts<'_> {
        Facts {
            kind,
            method: Method::Get,
            user_agent,
            link: if kind == Kind::Click {
                Some(LinkId::Index(0))
            } else {
                None
            },
            issued_at: Some(ISSUED),
            received_at: ISSUED + 3600,
        }
    }

    fn classify(facts: &Facts<'_>) -> Verdict {
        Classifier::default().classify(facts)
    }

    #[test]
    fn browser_get_is_human() {
        assert_eq!(classify(&facts(Kind::Click, Some(CHROME))), Verdict::Human);
        assert_eq!(classify(&facts(Kind::Open, Some(CHROME))), Verdict::Human);
    }

    #[test]
    fn head_is_scanner_whatever_the_user_agent() {
        for kind in [Kind::Click, Kind::Open] {
            let head = Facts {
                method: Method::Head,
                ..facts(kind, Some(CHROME))
            };
            assert_eq!(classify(&head), Verdict::Scanner(Signal::HeadRequest));
        }
    }

    #[test]
    fn honeypot_click_is_scanner() {
        let click = Facts {
            link: Some(LinkId::Label(HONEYPOT_LABEL)),
            ..facts(Kind::Click, Some(CHROME))
        };
        assert_eq!(classify(&click), Verdict::Scanner(Signal::Honeypot));
        let other_label = Facts {
            link: Some(LinkId::Label("cta")),
            ..click
        };
        assert_eq!(classify(&other_label), Verdict::Human);
    }

    #[test]
    fn missing_or_blank_user_agent_is_scanner() {
        for ua in [None, Some(""), Some("   ")] {
            assert_eq!(
                classify(&facts(Kind::Click, ua)),
                Verdict::Scanner(Signal::NoUserAgent)
            );
        }
    }

    fn assert_scanner_for_both_kinds(ua: &str, signal: Signal) {
        for kind in [Kind::Click, Kind::Open] {
            assert_eq!(classify(&facts(kind, Some(ua))), Verdict::Scanner(signal), "{ua}");
        }
    }

    #[test]
    fn http_libraries_are_scanners() {
        let cases = [
            ("curl/8.5.0", "curl"),
            ("Wget/1.21.4", "Wget"),
            ("python-requests/2.31.0", "python-requests"),
            ("Python-urllib/3.12", "Python urllib"),
            ("python-httpx/0.27.0", "HTTPX"),
            ("Go-http-client/1.1", "Go net/http"),
            ("Go-http-client/2.0", "Go net/http"),
            ("Java/17.0.2", "Java"),
            ("Apache-HttpClient/4.5.14 (Java/17)", "Apache HttpClient"),
            ("okhttp/4.12.0", "OkHttp"),
            ("axios/1.6.8", "axios"),
            (
                "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)",
                "node-fetch",
            ),
            ("libwww-perl/6.72", "libwww-perl"),
            ("aiohttp/3.9", "aiohttp"),
        ];
        for (ua, name) in cases {
            assert_scanner_for_both_kinds(ua, Signal::HttpLibrary(name));
        }
    }

    #[test]
    fn security_gateways_are_scanners() {
        let cases = [
            ("Mozilla/5.0 (compatible; Mimecast URL Protect)", "Mimecast"),
            ("Barracuda Sentinel (EE)", "Barracuda"),
            ("Mozilla/5.0 Proofpoint URL Defense", "Proofpoint"),
            (
                "Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/534+ (KHTML, like Gecko) BingPreview/1.0b",
                "Microsoft BingPreview",
            ),
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/120.0.0.0 Safari/537.36",
                "headless Chrome",
            ),
        ];
        for (ua, name) in cases {
            assert_scanner_for_both_kinds(ua, Signal::SecurityScanner(name));
        }
    }

    #[test]
    fn microsoft_safe_links_click_is_scanner_but_outlook_open_is_human() {
        let outlook = "Mozilla/4.0 (compatible; ms-office; MSOffice 16)";
        let office = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17328; Pro)";
        for ua in [outlook, office] {
            assert_eq!(
                classify(&facts(Kind::Click, Some(ua))),
                Verdict::Scanner(Signal::SecurityScanner("Microsoft Safe Links")),
                "{ua}"
            );
            assert_eq!(classify(&facts(Kind::Open, Some(ua))), Verdict::Human, "{ua}");
        }
    }

    #[test]
    fn gmail_image_proxy_open_is_proxied() {
        let ua = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)";
        let verdict = classify(&facts(Kind::Open, Some(ua)));
        assert_eq!(verdict, Verdict::Proxied(Signal::GmailImageProxy));
        assert!(verdict.is_person());
    }

    #[test]
    fn yahoo_mail_proxy_open_is_proxied() {
        let ua = "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html";
        assert_eq!(
            classify(&facts(Kind::Open, Some(ua))),
            Verdict::Proxied(Signal::YahooMailProxy)
        );
    }

    #[test]
    fn apple_privacy_protection_open_is_prefetch() {
        let verdict = classify(&facts(Kind::Open, Some("Mozilla/5.0")));
        assert_eq!(verdict, Verdict::Prefetch(Signal::ApplePrivacyProtection));
        assert!(!verdict.is_person());
        // Only the bare user agent: a full browser user agent is not Apple's relay.
        assert_eq!(classify(&facts(Kind::Open, Some(CHROME))), Verdict::Human);
    }

    #[test]
    fn click_soon_after_issue_is_scanner() {
        let soon = |seconds| Facts {
            received_at: ISSUED + seconds,
            ..facts(Kind::Click, Some(CHROME))
        };
        assert_eq!(classify(&soon(0)), Verdict::Scanner(Signal::ClickTooSoon));
        assert_eq!(
            classify(&soon(DEFAULT_MIN_CLICK_DELAY - 1)),
            Verdict::Scanner(Signal::ClickTooSoon)
        );
        assert_eq!(classify(&soon(DEFAULT_MIN_CLICK_DELAY)), Verdict::Human);
        // Configurable, and 0 turns it off.
        let strict = Classifier { min_click_delay: 60 };
        assert_eq!(strict.classify(&soon(30)), Verdict::Scanner(Signal::ClickTooSoon));
        let off = Classifier { min_click_delay: 0 };
        assert_eq!(off.classify(&soon(0)), Verdict::Human);
        // Opens are not timed: Apple's prefetch already covers machine opens on delivery.
        let open = Facts {
            received_at: ISSUED,
            ..facts(Kind::Open, Some(CHROME))
        };
        assert_eq!(classify(&open), Verdict::Human);
    }

    #[test]
    fn matching_ignores_case_and_finds_tokens_anywhere() {
        assert_eq!(
            classify(&facts(Kind::Click, Some("CURL/8.0"))),
            Verdict::Scanner(Signal::HttpLibrary("curl"))
        );
        let long = format!("{CHROME}{}", " x".repeat(2000));
        assert_eq!(classify(&facts(Kind::Click, Some(&long))), Verdict::Human);
        let late = format!("{long} PROOFPOINT");
        assert_eq!(
            classify(&facts(Kind::Click, Some(&late))),
            Verdict::Scanner(Signal::SecurityScanner("Proofpoint"))
        );
        // Every needle is found as a word, in any case, after each kind of delimiter,
        // and its first letters are ones the scan stops at.
        for (needle, signal, _) in UA_TOKENS {
            assert!(is_initial(needle.as_bytes()[0]), "{needle}");
            assert!(starts_like_a_needle(needle.as_bytes()), "{needle}");
            for ua in [
                needle.to_ascii_uppercase(),
                format!("Mozilla/5.0 (X11) {needle}/1.0"),
                format!("Mozilla/5.0 ({needle})"),
                format!("Mozilla/5.0 (X11;{needle})"),
            ] {
                let found = find_token(ua.as_bytes(), Kind::Click).or(find_token(ua.as_bytes(), Kind::Open));
                assert_eq!(found, Some(*signal), "{ua}");
            }
            // Inside another word it is not that product.
            let inside = format!("Mozilla/5.0 (X11) x{needle}");
            assert_eq!(find_token(inside.as_bytes(), Kind::Click), None, "{inside}");
            assert_eq!(find_token(inside.as_bytes(), Kind::Open), None, "{inside}");
        }
    }

    #[test]
    fn verdict_words() {
        assert_eq!(Verdict::Human.reason(), "no machine signal");
        assert_eq!(
            Verdict::Scanner(Signal::HttpLibrary("curl")).to_string(),
            "scanner: HTTP library user agent (curl)"
        );
    }

    /// [`find_token`] as its contract says, the slow way: every word start in order,
    /// every needle compared.
    fn find_token_by_words(user_agent: &[u8], kind: Kind) -> Option<Signal> {
        (0..user_agent.len())
            .filter(|&at| at == 0 || matches!(user_agent[at - 1], b' ' | b'(' | b';'))
            .find_map(|at| {
                UA_TOKENS
                    .iter()
                    .find(|(needle, _, applies)| {
                        applies.to(kind)
                            && user_agent[at..]
                                .get(..needle.len())
                                .is_some_and(|text| text.eq_ignore_ascii_case(needle.as_bytes()))
                    })
                    .map(|&(_, signal, _)| signal)
            })
    }

    use proptest::strategy::Strategy as _;

    proptest::proptest! {
        /// User agents of words, needles (in any case) and separators in any order: the
        /// scan finds exactly the first needle that starts a word.
        #[test]
        fn token_finder_matches_its_contract(
            pieces in proptest::collection::vec(proptest::prop_oneof![
                proptest::sample::select(UA_TOKENS.iter().map(|(needle, _, _)| *needle).collect::<Vec<_>>())
                    .prop_map(str::to_ascii_uppercase),
                proptest::sample::select(UA_TOKENS.iter().map(|(needle, _, _)| *needle).collect::<Vec<_>>())
                    .prop_map(str::to_owned),
                "[ (;/.,)]{1,2}",
                "[a-zA-Z0-9]{1,8}",
                "\\PC{1,3}",
            ], 0..12),
            open: bool,
        ) {
            let ua = pieces.concat();
            let kind = if open { Kind::Open } else { Kind::Click };
            proptest::prop_assert_eq!(find_token(ua.as_bytes(), kind), find_token_by_words(ua.as_bytes(), kind), "{:?}", ua);
        }

        /// The eight-at-a-time separator test agrees with the byte-by-byte one.
        #[test]
        fn separator_lanes_mark_exactly_the_separators(word: u64, picks in proptest::collection::vec(0..8usize, 0..8)) {
            // Random words rarely hold a separator: plant some.
            let mut lanes = word.to_le_bytes();
            for (n, &at) in picks.iter().enumerate() {
                lanes[at] = [b' ', b'(', b';'][n % 3];
            }
            let expected = lanes.iter().enumerate().fold(0u64, |mask, (at, byte)| {
                mask | (u64::from(matches!(byte, b' ' | b'(' | b';')) << (8 * at + 7))
            });
            proptest::prop_assert_eq!(separator_lanes(u64::from_le_bytes(lanes)), expected);
        }

        #[test]
        fn never_panics(ua in proptest::option::of(".{0,600}"), head: bool, open: bool,
                        issued in proptest::option::of(proptest::num::u64::ANY), now: u64) {
            let facts = Facts {
                kind: if open { Kind::Open } else { Kind::Click },
                method: if head { Method::Head } else { Method::Get },
                user_agent: ua.as_deref(),
                link: None,
                issued_at: issued,
                received_at: now,
            };
            let verdict = Classifier::default().classify(&facts);
            proptest::prop_assert!(!head || verdict == Verdict::Scanner(Signal::HeadRequest));
        }
    }
}
