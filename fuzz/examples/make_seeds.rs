//! Writes the seed corpora under `fuzz/seeds/<target>/` from the fixture key: valid click
//! and open tokens and URLs of every claim shape, key texts, endpoint requests, and HTML
//! and text bodies (the golden vectors' URLs, hand-written edge cases, and a few emails
//! of the shared corpus whose licences allow redistribution; see `seeds/SOURCES.md`),
//! and the shared corpus's MIME messages.
//!
//! `cargo run --example make_seeds [CORPUS_DIR]` (from `fuzz/`; the corpus defaults to
//! `../../shared/corpus/emails`, beside the checkout; without it the corpus seeds
//! already in `seeds/rewrite_html/` stay as they are). Deterministic: rerunning rewrites
//! the same files.

use std::path::{Path, PathBuf};

use hashbeacon::link::encode_destination;
use hashbeacon::{Claims, Key, KeyId, Kind, LinkId, PseudonymKey};
use hashbeacon_fuzz::{
    BASE, EXPIRED, ISSUED_AT, RAW_MODE, SIGNED_CLICK_MODE, SIGNED_CLICK_PATH_MODE, SIGNED_OPEN_MODE,
    TRUSTED_PEER, UNSUBSCRIBE_TARGET, endpoint_input, keyring, token_input, tracker,
};

/// Corpus emails copied into the HTML seeds (MIT-licensed and small; origin and licence
/// in `seeds/SOURCES.md`).
const CORPUS_SEEDS: &[&str] = &[
    "postmark-templates__welcome.html",
    "responsive-html-email-template__email-inlined.html",
    "MimeKit__tnef_unicode-mapi-attr-name_message.html",
];

/// The golden vectors' URLs (`tests/golden.rs`). Signed with another key than the
/// fixture's: to the fuzz targets they look tracked but do not verify.
const GOLDEN_URLS: &[&str] = &[
    "https://t.example.com/hb/c/1c.k1.spring-sale.3.3FOq2KtOAntf0XxY.1767225600..Gtil4BQxnwlocAEAOtBzCg\
     ?https://shop.example.com/sale?utm_source=news&q=a+b%252Fc%23top",
    "https://t.example.com/hb/c/1c.k1.welcome.cta..1767225600.1798761600.x5MIxlQIPOzowEwbZc9CTQ\
     ?https://%E4%BE%8B%E3%81%88.jp/%E3%83%91%E3%82%B9?x=%C3%BC",
    "https://t.example.com/hb/o/1o.k1.spring-sale..3FOq2KtOAntf0XxY.1767225600..iOdoIyblSXvudyqnsbUpXA.gif",
];

/// Hand-written HTML edge cases; `{golden}` stands for a golden click URL.
const HTML_SEEDS: &[&str] = &[
    r#"<html><body><a href="https://shop.example/?a=1&amp;b=2">Shop</a> <a href="mailto:a@b.example">Mail</a></body></html>"#,
    r#"<a href=https://u.example/x data-hb-link=cta>unquoted</a><area href='https://a.example/map' alt=x>"#,
    r#"<a href="https://x.example/" data-hb-notrack>no</a><a clicktracking=off href="https://y.example/">off</a><a href="https://z.example/unsubscribe">bye</a>"#,
    r#"<!--[if mso]><v:roundrect href="https://btn.example/?q=1&amp;r=2">Go</v:roundrect><![endif]--><a href="{{url}}">tpl</a>"#,
    "<body><p>top</p><!-- hashbeacon:pixel --><a href=\"  https://ws.example/a\nb  \">ws</a></body>",
    r#"<a href="{golden}">already tracked</a><img src="https://t.example.com/hb/o/x.gif"></body>"#,
    r#"<a href="https&#58;//ent.example/&#x26;&copy=1&lt;">ent</a><a href="https://bücher.example/straße#frag">idn</a>"#,
    "<div><div><a href=\"https://deep.example/\"><div><a href=\"https://deeper.example/\"><!-- unterminated",
    "<a href=\"https://nul.example/\0x\">nul</a>\0<a href=\"http://cr.example/\r\n\">crlf</a>",
];

/// Hand-written plain-text edge cases; `{golden}` stands for the golden URLs.
const TEXT_SEEDS: &[&str] = &[
    "Shop now: https://shop.example/spring. Or (https://a.example/x)!\nhttps://en.wikipedia.org/wiki/Rust_(language)\n",
    "To unsubscribe visit https://list.example/u?id=1\r\nHTTP://UPPER.example/?q=1&r=2, <https://angle.example/>\n",
    "{golden}\n\nAlready tracked above; these are not: https://x.example/?u={{id}} xhttps://no.example",
    "https://bücher.example/straße?q=€#frag \0 https://nul.example/\0after https://t.example.com/hb/privacy",
];

/// Destinations covering what the layout must carry exactly.
const DESTINATIONS: &[&str] = &[
    "https://shop.example/",
    "https://shop.example/a b?q=1+2&r=%2F#top",
    "http://user:pw@shop.example:8080/p/ä/?x='y'&z=\"w\"",
    "https://bücher.example/straße?q=%E2%82%AC#frag",
    "https://ex.example/path/../dot/./seg?%25%20=",
    "https://ex.example/?utm_source=news&utm_medium=email&utm_campaign=spring",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let ring = keyring();
    let tracker = tracker();
    let pseudonym = PseudonymKey::new(&[9; 32])?.pseudonym("ada@example.com");
    let links = [
        None,
        Some(LinkId::Index(0)),
        Some(LinkId::Index(41)),
        Some(LinkId::Label("cta")),
    ];
    let mut tokens = Vec::new();
    let mut targets = Vec::new();

    for (i, destination) in DESTINATIONS.iter().enumerate() {
        let claims = Claims {
            kind: Kind::Click,
            campaign: "spring-sale",
            link: links.get(i % links.len()).copied().flatten(),
            recipient: (i % 2 == 0).then_some(pseudonym.as_str()),
            issued_at: ISSUED_AT,
            expires_at: (i % 3 == 0).then_some(ISSUED_AT + 86_400),
        };
        let url = tracker.click_url(&claims, destination)?;
        let wire = encode_destination(destination);
        let key = if i % 4 == 3 {
            ring.get("k0")
        } else {
            Some(ring.signing_key())
        };
        let token = key.ok_or("fixture key")?.sign(&claims, &wire)?;
        tokens.push(token_input(Kind::Click, &token, &wire));
        targets.push(
            url.strip_prefix("https://t.example.com")
                .ok_or("base")?
                .to_owned(),
        );
    }
    for (i, recipient) in [None, Some(pseudonym.as_str())].into_iter().enumerate() {
        let claims = Claims {
            kind: Kind::Open,
            campaign: "launch_2026",
            link: None,
            recipient,
            issued_at: ISSUED_AT + i as u64,
            expires_at: None,
        };
        let url = tracker.open_url(&claims)?;
        tokens.push(token_input(Kind::Open, &ring.sign(&claims, "")?, ""));
        targets.push(
            url.strip_prefix("https://t.example.com")
                .ok_or("base")?
                .to_owned(),
        );
    }
    let unsubscribe = Claims {
        kind: Kind::Unsubscribe,
        campaign: "weekly-news",
        link: None,
        recipient: Some(pseudonym.as_str()),
        issued_at: ISSUED_AT,
        expires_at: None,
    };
    tokens.push(token_input(Kind::Unsubscribe, &ring.sign(&unsubscribe, "")?, ""));
    targets.push(
        tracker
            .unsubscribe_url(&unsubscribe)?
            .strip_prefix("https://t.example.com")
            .ok_or("base")?
            .to_owned(),
    );
    write_all(&seeds.join("token_verify"), tokens)?;
    write_all(
        &seeds.join("link_verify"),
        targets.iter().map(|target| target.clone().into_bytes()),
    )?;

    let long = Key::new(KeyId::new("k2026abc")?, &[5; 64])?;
    let keys = [
        ring.signing_key().to_text().to_string(),
        format!("{}\n", long.to_text().as_str()),
        format!(
            "# signing key first\n{}\n\n# retired\n{}\n",
            ring.signing_key().to_text().as_str(),
            long.to_text().as_str()
        ),
        format!(
            "{},{}",
            long.to_text().as_str(),
            ring.signing_key().to_text().as_str()
        ),
        PseudonymKey::new(&[9; 32])?.to_text().to_string(),
        format!("  {}  \n", PseudonymKey::new(&[1; 48])?.to_text().as_str()),
    ];
    write_all(&seeds.join("key_parse"), keys.into_iter().map(String::into_bytes))?;

    // endpoint_handle: genuine URLs, altered ones, other methods, forwarding headers.
    let chrome = b"Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/124.0".as_slice();
    let mut requests = Vec::new();
    for (i, destination) in DESTINATIONS.iter().enumerate() {
        let flags = if i % 2 == 0 {
            SIGNED_CLICK_MODE
        } else {
            SIGNED_CLICK_PATH_MODE | EXPIRED
        };
        let tail: &[u8] = if i % 3 == 0 { b"&x=1" } else { b"" };
        requests.push(endpoint_input(
            flags,
            &[b"GET", destination.as_bytes(), chrome, b"", b"", tail],
        ));
    }
    requests.push(endpoint_input(
        SIGNED_OPEN_MODE,
        &[b"GET", b"", b"GoogleImageProxy", b"", b"", b""],
    ));
    requests.push(endpoint_input(
        SIGNED_OPEN_MODE | TRUSTED_PEER,
        &[
            b"HEAD",
            b"",
            b"",
            b"for=192.0.2.60;proto=https",
            b"198.51.100.7, 10.0.0.2",
            b"",
        ],
    ));
    requests.push(endpoint_input(
        SIGNED_CLICK_MODE,
        &[b"POST", b"https://shop.example/", b"curl/8.5", b"", b"", b""],
    ));
    for (i, target) in targets.iter().enumerate() {
        let method: &[u8] = if i % 3 == 2 { b"HEAD" } else { b"GET" };
        let flags = RAW_MODE | if i % 2 == 0 { TRUSTED_PEER } else { 0 };
        requests.push(endpoint_input(
            flags,
            &[
                method,
                target.as_bytes(),
                chrome,
                b"for=unknown",
                b"\xfe\x80",
                b"",
            ],
        ));
    }
    requests.push(endpoint_input(
        RAW_MODE,
        &[
            b"GET",
            b"/hb/c/x?https://evil.example/\r\nSet-Cookie: a=b",
            b"",
            b"",
            b"",
            b"",
        ],
    ));
    // Forwarding: a client-sent `Forwarded` beside the proxy's `X-Forwarded-For`
    // under each declared header (0: X-Forwarded-For, 1: Forwarded, 2: both must
    // agree), and spoofed trusted hops in both headers.
    for declared in [b"\x00", b"\x01", b"\x02"] {
        requests.push(endpoint_input(
            SIGNED_CLICK_MODE | TRUSTED_PEER,
            &[
                b"GET",
                b"https://shop.example/",
                chrome,
                b"for=6.6.6.6",
                b"198.51.100.7",
                b"",
                declared,
            ],
        ));
    }
    requests.push(endpoint_input(
        SIGNED_OPEN_MODE | TRUSTED_PEER,
        &[
            b"GET",
            b"",
            chrome,
            b"for=10.0.0.7, for=203.0.113.4, for=10.0.0.3",
            b"6.6.6.6, 10.0.0.9, 198.51.100.7, 10.0.0.2",
            b"",
            b"\x01",
        ],
    ));
    // One-click unsubscribes: as Gmail posts them, as multipart, GET, HEAD, bad bodies.
    let form = b"application/x-www-form-urlencoded".as_slice();
    let multipart = b"multipart/form-data; boundary=XyZ".as_slice();
    let multipart_body =
        b"--XyZ\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--XyZ--\r\n"
            .as_slice();
    for (method, tail, content_type, body) in [
        (
            b"POST".as_slice(),
            b"".as_slice(),
            form,
            b"List-Unsubscribe=One-Click".as_slice(),
        ),
        (b"POST", b"", multipart, multipart_body),
        (b"POST", b"", form, b"List-Unsubscribe=Yes"),
        (b"POST", b"x", form, b"List-Unsubscribe=One-Click"),
        (b"GET", b"", b"", b""),
        (b"HEAD", b"", b"", b""),
    ] {
        requests.push(endpoint_input(
            SIGNED_OPEN_MODE,
            &[
                method,
                UNSUBSCRIBE_TARGET,
                b"",
                b"",
                b"",
                tail,
                b"",
                content_type,
                body,
            ],
        ));
    }
    write_all(&seeds.join("endpoint_handle"), requests)?;

    // rewrite_html and rewrite_text: a selector byte (0: the default options), then a body.
    let golden = GOLDEN_URLS.first().ok_or("golden URL")?.replace('&', "&amp;");
    let mut html: Vec<Vec<u8>> = HTML_SEEDS
        .iter()
        .enumerate()
        .map(|(i, seed)| {
            with_selector(
                (i as u8).wrapping_mul(37),
                seed.replace("{golden}", &golden).as_bytes(),
            )
        })
        .collect();
    let corpus = std::env::args().nth(1).map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/emails"),
        PathBuf::from,
    );
    if corpus.is_dir() {
        for name in CORPUS_SEEDS {
            html.push(with_selector(0, &std::fs::read(corpus.join(name))?));
        }
    } else {
        eprintln!("no corpus at {}: corpus seeds left as they are", corpus.display());
    }
    html.extend(HOSTILE_HTML.iter().map(|seed| with_selector(0, &seed.body())));
    write_all(&seeds.join("rewrite_html"), html)?;
    let golden_text = GOLDEN_URLS.join(" and ");
    let text = TEXT_SEEDS.iter().enumerate().map(|(i, seed)| {
        with_selector(
            (i as u8).wrapping_mul(53),
            seed.replace("{golden}", &golden_text).as_bytes(),
        )
    });
    let text = text.chain(HOSTILE_TEXT.iter().map(|seed| with_selector(0, &seed.body())));
    write_all(&seeds.join("rewrite_text"), text)?;

    // rewrite_message: a selector byte (0), then each message of the shared corpus.
    let messages = corpus.join("../messages");
    if messages.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&messages)?
            .map(|entry| entry.map(|entry| entry.path()))
            .collect::<Result<_, _>>()?;
        files.retain(|path| path.extension().is_some_and(|ext| ext == "eml"));
        files.sort();
        let seeds_of = files
            .iter()
            .map(|path| std::fs::read(path).map(|raw| with_selector(0, &raw)))
            .collect::<Result<Vec<_>, _>>()?;
        write_all(&seeds.join("rewrite_message"), seeds_of)?;
    } else {
        eprintln!(
            "no corpus at {}: message seeds left as they are",
            messages.display()
        );
    }
    println!("seeds written under {} for {BASE}", seeds.display());
    Ok(())
}

/// A body repeating one pattern: the shapes that once made a scan quadratic, small
/// enough for libFuzzer's input limit.
struct Hostile {
    prefix: &'static str,
    pattern: &'static str,
    repeats: usize,
    suffix: &'static str,
}

impl Hostile {
    fn body(&self) -> Vec<u8> {
        [self.prefix, &self.pattern.repeat(self.repeats), self.suffix]
            .concat()
            .into_bytes()
    }
}

const HOSTILE_HTML: &[Hostile] = &[
    Hostile {
        prefix: "<body>",
        pattern: "<!--[if",
        repeats: 500,
        suffix: "",
    },
    Hostile {
        prefix: "<body>",
        pattern: "<!--[if mso]><v:rect ",
        repeats: 150,
        suffix: "<a href=\"https://a.example/\">",
    },
    Hostile {
        prefix: "<body>",
        pattern: "<a href=https://a.example/>",
        repeats: 120,
        suffix: "",
    },
];

const HOSTILE_TEXT: &[Hostile] = &[
    Hostile {
        prefix: "See https://x.example/a",
        pattern: ")",
        repeats: 3000,
        suffix: "",
    },
    Hostile {
        prefix: "See https://x.example/a",
        pattern: "].",
        repeats: 1500,
        suffix: "\n",
    },
    Hostile {
        prefix: "",
        pattern: "https://a.example/ ",
        repeats: 200,
        suffix: "",
    },
];

fn with_selector(selector: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![selector];
    out.extend_from_slice(body);
    out
}

fn write_all(dir: &Path, seeds: impl IntoIterator<Item = Vec<u8>>) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (i, seed) in seeds.into_iter().enumerate() {
        std::fs::write(dir.join(format!("seed-{i:02}")), seed)?;
    }
    Ok(())
}
