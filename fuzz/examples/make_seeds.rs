//! Writes the seed corpora under `fuzz/seeds/<target>/` from the fixture key: valid click
//! and open tokens and URLs of every claim shape, and key texts.
//!
//! `cargo run --example make_seeds` (from `fuzz/`). Deterministic: rerunning rewrites the
//! same files.

use std::path::Path;

use hashbeacon::link::encode_destination;
use hashbeacon::{Claims, Key, KeyId, Kind, LinkId, PseudonymKey};
use hashbeacon_fuzz::{BASE, ISSUED_AT, keyring, token_input, tracker};

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
    write_all(&seeds.join("token_verify"), tokens)?;
    write_all(
        &seeds.join("link_verify"),
        targets.into_iter().map(String::into_bytes),
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
    println!("seeds written under {} for {BASE}", seeds.display());
    Ok(())
}

fn write_all(dir: &Path, seeds: impl IntoIterator<Item = Vec<u8>>) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (i, seed) in seeds.into_iter().enumerate() {
        std::fs::write(dir.join(format!("seed-{i:02}")), seed)?;
    }
    Ok(())
}
