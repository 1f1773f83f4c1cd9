//! The fixture every fuzz target and the seed generator share: one fixed key, one tracker,
//! and the byte layout of each target's input, defined once so seeds and targets agree.

use hashbeacon::{Key, KeyId, Keyring, Kind, Tracker};

/// The verifier as it was before it authenticated first, shared with the proptests.
#[path = "../../tests/reference/mod.rs"]
pub mod reference;

/// Secret of the signing key `k1`.
const SIGNING_SECRET: [u8; 32] = [7; 32];
/// Secret of the verify-only key `k0`.
const OLD_SECRET: [u8; 32] = [3; 32];

/// The tracking base of [`tracker`]; link seeds are request targets under it.
pub const BASE: &str = "https://t.example.com/hb";

/// The fixed "current time" the targets verify at: one second after the seeds' issue time.
pub const NOW: u64 = ISSUED_AT + 1;

/// Issue time of every seed token.
pub const ISSUED_AT: u64 = 1_767_225_600;

/// The fixture's keyring: signing key `k1`, verify-only key `k0`, fixed secrets.
pub fn keyring() -> Keyring {
    let key = |id: &str, secret: &[u8]| KeyId::new(id).and_then(|id| Key::new(id, secret));
    match (key("k1", &SIGNING_SECRET), key("k0", &OLD_SECRET)) {
        (Ok(signing), Ok(old)) => match Keyring::new(signing).with_verify_only(old) {
            Ok(ring) => ring,
            Err(err) => panic!("fixture keyring: {err}"),
        },
        _ => panic!("fixture keys are valid"),
    }
}

/// [`keyring`]'s keys for the reference verifier.
pub fn reference_keyring() -> reference::ReferenceKeyring {
    reference::ReferenceKeyring::new(&[("k1", &SIGNING_SECRET), ("k0", &OLD_SECRET)])
}

/// A tracker over [`keyring`] at [`BASE`].
pub fn tracker() -> Tracker {
    match Tracker::new(keyring(), BASE) {
        Ok(tracker) => tracker,
        Err(err) => panic!("fixture tracker: {err}"),
    }
}

/// `token_verify` input: one byte choosing the purpose (its value modulo 3: click, open,
/// unsubscribe), then the token, then optionally `\n` and the destination's wire form.
pub fn split_token_input(data: &[u8]) -> Option<(Kind, &str, &str)> {
    let (&selector, rest) = data.split_first()?;
    let kind = match selector % 3 {
        0 => Kind::Click,
        1 => Kind::Open,
        _ => Kind::Unsubscribe,
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
        Kind::Unsubscribe => 2,
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

/// Separates the fields of an `endpoint_handle` input. Not valid UTF-8 anywhere, so a
/// field can hold any text, CR, LF and NUL included.
pub const FIELD_SEPARATOR: u8 = 0xFF;

/// `endpoint_handle` input: a flags byte, then up to nine fields separated by
/// [`FIELD_SEPARATOR`]: method, target, user agent, `Forwarded`, `X-Forwarded-For`,
/// tail, the forwarding header the proxy is declared to write (see
/// [`forwarded_header`]), `Content-Type` and body. Fields are raw bytes: the `http`
/// path carries them as they are, the direct path only when they are UTF-8 (the body
/// always as it is).
pub struct EndpointInput<'a> {
    /// How the request is made; see the `*_MODE` and flag constants.
    pub flags: u8,
    /// The method, the request target (or, in the signed modes, the destination to
    /// sign, or [`UNSUBSCRIBE_TARGET`]), the `User-Agent`, `Forwarded` and
    /// `X-Forwarded-For` values, the tail spliced into a signed target, the declared
    /// forwarding header, the `Content-Type` and the body.
    pub fields: [&'a [u8]; 9],
}

/// The forwarding header an `endpoint_handle` input declares: none (an empty field)
/// keeps the default; otherwise the field's first byte modulo 3 chooses
/// `X-Forwarded-For`, `Forwarded` or both-must-agree.
pub fn forwarded_header(field: &[u8]) -> hashbeacon::ForwardedHeader {
    use hashbeacon::ForwardedHeader;
    match field.first().map(|byte| byte % 3) {
        None => ForwardedHeader::default(),
        Some(0) => ForwardedHeader::XForwardedFor,
        Some(1) => ForwardedHeader::Forwarded,
        Some(_) => ForwardedHeader::BothMustAgree,
    }
}

/// In [`SIGNED_OPEN_MODE`], this target field makes the request a genuine one-click
/// unsubscribe URL (tail appended to the path) instead of an open URL.
pub const UNSUBSCRIBE_TARGET: &[u8] = b"unsubscribe";

/// Mode bits of [`EndpointInput::flags`] (the low two).
pub const MODE_MASK: u8 = 0b11;
/// The target field is the request target, as is.
pub const RAW_MODE: u8 = 0;
/// The target field is a destination; the request is its genuine click URL with the
/// tail appended to the query.
pub const SIGNED_CLICK_MODE: u8 = 1;
/// The request is a genuine open URL (or unsubscribe URL, see [`UNSUBSCRIBE_TARGET`])
/// with the tail appended to the path.
pub const SIGNED_OPEN_MODE: u8 = 2;
/// As [`SIGNED_CLICK_MODE`], with the tail inserted after the token in the path.
pub const SIGNED_CLICK_PATH_MODE: u8 = 3;
/// Flag: the peer is the trusted proxy (`10.0.0.1`, in `10.0.0.0/8`).
pub const TRUSTED_PEER: u8 = 1 << 2;
/// Flag bits 3–4 choose the redirect status: 302, 301, 303, 307.
pub const REDIRECT_SHIFT: u8 = 3;
/// Flag: record rejected requests.
pub const RECORD_REJECTED: u8 = 1 << 5;
/// Flag: a click also records an open.
pub const CLICK_IMPLIES_OPEN: u8 = 1 << 6;
/// Flag: the signed token expired before [`NOW`] (its click must still redirect).
pub const EXPIRED: u8 = 1 << 7;

/// Splits an `endpoint_handle` input.
pub fn split_endpoint_input(data: &[u8]) -> Option<EndpointInput<'_>> {
    let (&flags, rest) = data.split_first()?;
    let mut fields: [&[u8]; 9] = [b""; 9];
    for (slot, field) in fields.iter_mut().zip(rest.split(|&b| b == FIELD_SEPARATOR)) {
        *slot = field;
    }
    Some(EndpointInput { flags, fields })
}

/// The inverse of [`split_endpoint_input`], for seeds.
pub fn endpoint_input(flags: u8, fields: &[&[u8]]) -> Vec<u8> {
    let mut out = vec![flags];
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push(FIELD_SEPARATOR);
        }
        out.extend_from_slice(field);
    }
    out
}

/// Issue time of the tokens the rewrite targets sign: distinct from [`ISSUED_AT`], so
/// a URL that verifies with it was made by the rewrite under test, never copied from
/// the input (the fuzzer cannot forge one).
pub const REWRITE_AT: u64 = ISSUED_AT + 777;

/// `rewrite_html` / `rewrite_text` input: one byte choosing the options, then the body.
pub fn split_rewrite_input(data: &[u8]) -> Option<(u8, &[u8])> {
    data.split_first().map(|(&selector, body)| (selector, body))
}

/// The options a `rewrite_*` selector byte stands for: bits 0–1 pixel placement
/// (bottom, top, placeholder; 3 turns opens off), bit 2 UTM tagging, bit 3 honeypot,
/// bit 4 Windows-1252, bit 5 links in one part only (HTML only for `html`, else text
/// only), bit 6 unsubscribe detection off, bit 7 a short URL limit (200).
pub fn rewrite_options(selector: u8, html: bool) -> hashbeacon::Options {
    use hashbeacon::rewrite::{Charset, PixelPlacement, TrackLinks, Utm};
    let bit = |n: u8| selector & (1 << n) != 0;
    let mut options = hashbeacon::Options::default();
    options.pixel = match selector & 0b11 {
        0 => PixelPlacement::Bottom,
        1 => PixelPlacement::Top,
        2 => PixelPlacement::Placeholder,
        _ => {
            options.opens = false;
            PixelPlacement::Bottom
        }
    };
    options.utm = bit(2).then(|| Utm::new("fuzz"));
    options.honeypot = bit(3);
    if bit(4) {
        options.charset = Some(Charset::windows_1252());
    }
    if bit(5) {
        options.links = if html {
            TrackLinks::HtmlOnly
        } else {
            TrackLinks::TextOnly
        };
    }
    options.detect_unsubscribe = !bit(6);
    if bit(7) {
        options.max_url_len = 200;
    }
    options
}

/// Whether the body could declare its own charset: a UTF-16 byte order mark, or (in
/// HTML) the word `charset` where the prescan reads.
fn declares_a_charset(input: &[u8], html: bool) -> bool {
    let head = input.get(..hashbeacon::rewrite::PRESCAN_BYTES).unwrap_or(input);
    input.starts_with(b"\xFF\xFE")
        || input.starts_with(b"\xFE\xFF")
        || (html && head.windows(7).any(|w| w.eq_ignore_ascii_case(b"charset")))
}

/// Asserts what a rewrite must hold, and that rewriting its output again tracks
/// nothing twice. `rewrite` rewrites a body with the fixed message and options.
pub fn check_rewrite(
    tracker: &Tracker,
    input: &[u8],
    html: bool,
    max_url_len: usize,
    rewrite: impl Fn(&[u8]) -> Result<hashbeacon::Rewritten, hashbeacon::RewriteError>,
) {
    use hashbeacon::RewriteError;
    use hashbeacon::rewrite::SkipReason;
    let first = match rewrite(input) {
        Ok(first) => first,
        // lol_html may refuse input (e.g. over its memory limit); never anything else.
        Err(RewriteError::Html(_)) if html => return,
        // A body that declares a charset which cannot be rewritten byte-wise (a UTF-16
        // byte order mark, or a <meta> naming one) is refused.
        Err(RewriteError::Charset(_)) if declares_a_charset(input, html) => return,
        Err(error) => panic!("unexpected rewrite error: {error}"),
    };
    let report = &first.report;
    assert_eq!(report.bytes_before, input.len());
    assert_eq!(report.bytes_after, Some(first.body.len()));
    // Linear: each tracked link adds at most its (escaped) tracked URL, plus the pixel
    // and honeypot.
    let bound = input.len() + report.tracked.len() * 5 * max_url_len + 2048;
    assert!(first.body.len() <= bound, "{} > {bound}", first.body.len());
    assert_tracked_links_verify(tracker, &first.body, report, html);

    // Rewriting the output again: every link tracked before is now already tracked,
    // and no pixel or honeypot goes in a second time.
    let second = rewrite(&first.body).expect("a rewritten body rewrites again");
    let click = format!("{BASE}/c/");
    let already: usize = second
        .report
        .skipped
        .iter()
        .map(|link| match link.reason {
            SkipReason::AlreadyTracked => 1,
            _ => link.href.matches(click.as_str()).count(),
        })
        .sum();
    // (The honeypot may not count: appended to a body that ends inside a tag or a
    // comment, it is no link to the parser. Its bytes are counted below. In plain text
    // a tracked link can run on from a URL just before it, such as a filled-in
    // unsubscribe placeholder with no space between them: it is left alone inside
    // that URL, and counted there.)
    assert!(
        already >= report.tracked.len(),
        "{already} already-tracked links after tracking {}",
        report.tracked.len()
    );
    for link in &second.report.tracked {
        assert!(
            !is_own_url(&link.destination),
            "double-tracked: {}",
            link.destination
        );
    }
    assert!(!(report.pixel && second.report.pixel), "a second pixel");
    assert!(!(report.honeypot && second.report.honeypot), "a second honeypot");
    let open = memchr::memmem::Finder::new(b"https://t.example.com/hb/o/");
    let honeypot = memchr::memmem::Finder::new(b".hbhoneypot.");
    // Bytes only a new pixel or honeypot would add (or a newly tracked link quoting them).
    for finder in [open, honeypot]
        .iter()
        .filter(|_| second.report.tracked.is_empty())
    {
        let count = |body: &[u8]| finder.find_iter(body).count();
        assert!(
            count(&second.body) == count(&first.body),
            "a second pixel or honeypot: {:?}",
            String::from_utf8_lossy(finder.needle())
        );
    }
    if second.report.tracked.is_empty() && !second.report.pixel && !second.report.honeypot {
        assert!(
            first.body == second.body,
            "a rewrite that changed nothing changed bytes"
        );
    }
}

/// Asserts that every link the report says was tracked appears in the body, in order,
/// as a click URL (HTML-escaped in HTML) that verifies to the reported destination and
/// link id, and that a browser would request exactly as written.
pub fn assert_tracked_links_verify(
    tracker: &Tracker,
    body: &[u8],
    report: &hashbeacon::rewrite::Report,
    html: bool,
) {
    use hashbeacon::link::encode_destination;
    let prefix = format!("{BASE}/c/");
    let finder = memchr::memmem::Finder::new(prefix.as_bytes());
    let mut from = 0;
    for link in &report.tracked {
        let wire = encode_destination(&link.destination);
        let written = if html {
            wire.replace('&', "&amp;")
        } else {
            wire.to_string()
        };
        let found = finder
            .find_iter(body.get(from..).unwrap_or_default())
            .find_map(|at| {
                let token_at = from + at + prefix.len();
                let rest = body.get(token_at..)?;
                let question = rest.iter().position(|&b| b == b'?')?;
                let token = std::str::from_utf8(rest.get(..question)?).ok()?;
                rest.get(question + 1..)?
                    .starts_with(written.as_bytes())
                    .then_some(())?;
                let path = format!("{}/c/{token}", tracker.path_prefix());
                let click = tracker.verify_click(&path, Some(&wire), NOW).ok()?;
                let claims = click.verified.claims;
                (claims.issued_at == REWRITE_AT
                    && claims.link.map(|l| l.to_string()) == Some(link.id.clone()))
                .then(|| {
                    let destination = click.destination().map(|d| d.into_owned());
                    (
                        token_at + question + 1 + written.len(),
                        path.clone(),
                        token.to_owned(),
                        destination,
                    )
                })
            });
        let Some((end, path, token, destination)) = found else {
            panic!("tracked link {link:?} has no verifying click URL in the body");
        };
        assert_eq!(
            destination.ok().as_deref(),
            Some(link.destination.as_str()),
            "verifies to another destination"
        );
        let parsed = url::Url::parse(&format!("{prefix}{token}?{wire}")).expect("a tracked URL parses");
        assert_eq!(parsed.path(), path, "a browser requests another path");
        assert_eq!(parsed.query(), Some(&*wire), "a browser requests another query");
        from = end;
    }
}

/// Whether a URL is a click or open URL of the fixture tracker (scheme and host in any
/// case).
pub fn is_own_url(url: &str) -> bool {
    let origin = "https://t.example.com";
    ["/hb/c/", "/hb/o/"].iter().any(|route| {
        url.get(..origin.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(origin))
            && url
                .get(origin.len()..)
                .is_some_and(|path| path.starts_with(route))
    })
}

/// The body of the `rewrite_html` and `rewrite_text` targets: rewrites the input's body
/// with the options its selector byte stands for (see [`rewrite_options`]) for a fixed
/// recipient, and checks it with [`check_rewrite`].
pub fn fuzz_rewrite(data: &[u8], html: bool) {
    use hashbeacon::rewrite::{Message, Recipient, rewrite_html, rewrite_text};
    use std::sync::LazyLock;
    static TRACKER: LazyLock<Tracker> = LazyLock::new(tracker);
    static RECIPIENT: LazyLock<hashbeacon::Pseudonym> = LazyLock::new(|| {
        hashbeacon::PseudonymKey::new(&[9; 32])
            .expect("a pseudonym key")
            .pseudonym("ada@example.com")
    });

    let Some((selector, body)) = split_rewrite_input(data) else {
        return;
    };
    let options = rewrite_options(selector, html);
    let message = Message::new(
        "fuzz",
        Recipient::new(REWRITE_AT)
            .with_pseudonym(&RECIPIENT)
            .expiring_at(REWRITE_AT + 86_400),
    );
    let rewrite = if html { rewrite_html } else { rewrite_text };
    check_rewrite(&TRACKER, body, html, options.max_url_len, |input| {
        rewrite(&TRACKER, &message, &options, input)
    });
}

/// `rewrite_message` input: one selector byte, then the raw message. Bits 0–7 of the
/// selector pick the body options as for [`rewrite_options`] (HTML's reading; the
/// charset bit is moot, each part declares its own).
pub fn fuzz_rewrite_message(data: &[u8]) {
    use hashbeacon::message::{HeaderField, ListUnsubscribe, MessageError, MessageOptions, rewrite_message};
    use hashbeacon::rewrite::{Message, Recipient};

    let Some((selector, raw)) = split_rewrite_input(data) else {
        return;
    };
    // mail-parser's debug assertions panic on some malformed mail; `rewrite_message`
    // catches that panic and answers `Unparseable`. libFuzzer's panic hook would abort
    // on the caught panic: the default hook only prints it. A panic that escapes
    // `rewrite_message` still aborts the run (libfuzzer-sys catches it and aborts).
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        drop(std::panic::take_hook());
    });
    let tracker = tracker();
    let mut options = MessageOptions::default();
    options.body = rewrite_options(selector, true);
    options.allow_dkim_signed = true;

    // A recipient who opted out gets exactly the input back, whatever it holds.
    let opted_out = Message::new("fuzz", Recipient::new(FUZZ_ISSUED_AT).opted_out(true));
    match rewrite_message(&tracker, &opted_out, &options, raw) {
        Ok(out) => assert!(out.message == raw, "opted out: the message is unchanged"),
        // `Unparseable`: the MIME parser panicked on it, which fuzz builds (with debug
        // assertions) do on some malformed mail.
        Err(MessageError::NotAMessage | MessageError::Unparseable) => return,
        Err(err) => panic!("opted out: unexpected error {err}"),
    }

    options.add_headers.push(HeaderField::new("X-Fuzz", "1"));
    options.list_unsubscribe = Some(ListUnsubscribe::new());
    let pseudonym = hashbeacon::PseudonymKey::new(&[9; 32])
        .expect("a pseudonym key")
        .pseudonym("ada@example.com");
    let message = Message::new("fuzz", Recipient::new(FUZZ_ISSUED_AT).with_pseudonym(&pseudonym));
    let out = match rewrite_message(&tracker, &message, &options, raw) {
        Ok(out) => out,
        Err(MessageError::NoHeaderBlock | MessageError::ListUnsubscribeExists) => return,
        Err(err) => panic!("unexpected error {err}"),
    };
    // Output linear in the input: bodies grow by tracked URLs, the pixel and
    // quoted-printable escapes (at most 3 bytes per byte plus soft breaks).
    assert!(out.message.len() <= 4 * raw.len() + 4096, "output grows linearly");
    let mut previous_end = 0;
    for part in &out.parts {
        assert!(
            part.body.start <= part.body.end && part.body.end <= raw.len(),
            "body in bounds"
        );
        assert!(part.body.start >= previous_end, "parts in order, not overlapping");
        previous_end = part.body.end;
    }
    // Every part left alone is still there, byte for byte.
    for part in &out.parts {
        if part.outcome.report().is_none() {
            let body = raw.get(part.body.clone()).unwrap_or_default();
            assert!(
                body.is_empty() || memchr::memmem::find(&out.message, body).is_some(),
                "part {} left alone is kept",
                part.number
            );
        }
    }
}

/// Issue time of the tokens `rewrite_message` signs: one no seed uses.
const FUZZ_ISSUED_AT: u64 = ISSUED_AT + 7;
