//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::indexing_slicing)]

use std::path::PathBuf;

use hashbeacon::{Claims, Key, KeyId, Kind, LinkId, Tracker, VerifiedClick};

pub(crate) const BASE: &str = "https://t.example.com/hb";
pub(crate) const NOW: u64 = 1_767_225_600;

pub(crate) fn tracker() -> Tracker {
    let key = Key::new(KeyId::new("k1").unwrap(), &[7u8; 32]).unwrap();
    Tracker::new(key.into(), BASE).unwrap()
}

/// The destinations a rewrite's report says it tracked, in order.
#[cfg(feature = "rewrite")]
pub(crate) fn tracked(out: &hashbeacon::Rewritten) -> Vec<&str> {
    out.report
        .tracked
        .iter()
        .map(|link| link.destination.as_str())
        .collect()
}

/// The claims of a plain click: campaign `promo`, link 0, no recipient, no expiry.
pub(crate) fn click_claims() -> Claims<'static> {
    Claims {
        kind: Kind::Click,
        campaign: "promo",
        link: Some(LinkId::Index(0)),
        recipient: None,
        issued_at: NOW,
        expires_at: None,
    }
}

/// A tracked URL found in a body: where it is and its text (HTML-unescaped).
pub(crate) struct Found {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) url: String,
}

/// Every click URL in an HTML body, in order: each ends at its closing quote.
pub(crate) fn click_urls(body: &str) -> Vec<Found> {
    let prefix = format!("{BASE}/c/");
    body.match_indices(&prefix)
        .map(|(start, _)| {
            let rest = &body[start..];
            let len = rest.find(['"', '\'']).unwrap_or(rest.len());
            let raw = &rest[..len];
            let url = raw.replace("&amp;", "&");
            Found {
                start,
                end: start + len,
                url,
            }
        })
        .collect()
}

/// Verifies a click URL the way the endpoint sees it: path and raw query as a browser
/// sends them (after WHATWG URL parsing).
pub(crate) fn verify(tracker: &Tracker, click_url: &str) -> (String, String) {
    let parsed = url::Url::parse(click_url).unwrap();
    let click: VerifiedClick<'_> = tracker
        .verify_click(parsed.path(), parsed.query(), NOW + 60)
        .unwrap();
    let link = click
        .verified
        .claims
        .link
        .map(|l| l.to_string())
        .unwrap_or_default();
    (click.destination().unwrap().into_owned(), link)
}

/// The destinations of every click URL in an HTML body.
pub(crate) fn destinations(tracker: &Tracker, body: &str) -> Vec<String> {
    click_urls(body)
        .iter()
        .map(|found| verify(tracker, &found.url).0)
        .collect()
}

/// How many open pixels a body has.
pub(crate) fn pixels(body: &str) -> usize {
    body.matches(&format!("<img src=\"{BASE}/o/")).count()
}

/// The files of one folder of the shared corpus (`../shared/corpus/FOLDER`, beside the
/// checkout, or beside the folder holding it for a worktree) with this extension,
/// sorted. Without the folder: `None` locally, a failure under `CI=true`.
pub(crate) fn corpus_files(folder: &str, extension: &str) -> Option<Vec<PathBuf>> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let candidates = [
        manifest.join("../shared/corpus").join(folder),
        manifest.join("../../shared/corpus").join(folder),
    ];
    let Some(dir) = candidates.iter().find(|dir| dir.is_dir()) else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "the corpus is missing at {}",
            candidates[0].display()
        );
        eprintln!("skipping: no corpus at {}", candidates[0].display());
        return None;
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == extension))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .{extension} files in {}", dir.display());
    Some(files)
}
