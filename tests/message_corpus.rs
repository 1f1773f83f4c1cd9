//! Every message of the shared corpus (`../shared/corpus/messages/*.eml`, beside the
//! checkout) is rewritten, and an independent parser (`mailparse`) finds in the output
//! the same tree, the same headers and untouched parts byte for byte, and HTML and text
//! bodies equal to what the body rewriters make of the decoded input.
//!
//! Without the folder the test is skipped locally and fails under `CI=true`.
#![cfg(feature = "message")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;
#[path = "common/mime.rs"]
mod mime;

use common::{NOW, corpus_files, tracker};
use hashbeacon::message::{LeftAlone, MessageOptions, rewrite_message};
use hashbeacon::rewrite::{Message, Recipient};

#[test]
fn every_corpus_message_rewrites_exactly() {
    let Some(files) = corpus_files("messages", "eml") else {
        return;
    };
    let tracker = tracker();
    let message = Message::new("corpus", Recipient::new(NOW));
    let options = MessageOptions::default();
    let (mut changed, mut tracked, mut pixels, mut unparsed) = (0, 0, 0, 0);
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let input = std::fs::read(path).unwrap();
        let out = rewrite_message(&tracker, &message, &options, &input)
            .unwrap_or_else(|err| panic!("{name}: {err}"));
        let seen = std::panic::catch_unwind(|| mime::check(&tracker, &message, &options, &input, &out))
            .unwrap_or_else(|_| panic!("{name}: the independent check failed (see above)"));
        for (number, reason) in &seen.left_alone {
            eprintln!("{name}: part {number} left alone: {reason}");
            assert!(
                matches!(reason, LeftAlone::Malformed | LeftAlone::BrokenEncoding(_)),
                "{name}: part {number} left alone for an unexpected reason: {reason}"
            );
        }
        assert!(seen.pixels <= 1, "{name}: at most one pixel");
        if seen.unparsed {
            eprintln!("{name}: mailparse refuses it (and the output alike)");
            unparsed += 1;
        }
        changed += seen.changed;
        tracked += seen.tracked;
        pixels += seen.pixels;
    }
    assert!(
        changed >= files.len() / 2,
        "the corpus exercises rewriting ({changed} parts changed)"
    );
    assert!(pixels >= 10, "the corpus exercises the pixel ({pixels})");
    assert!(
        unparsed <= 2,
        "mailparse checks nearly every message ({unparsed} refused)"
    );
    eprintln!(
        "{} messages, {changed} parts changed, {tracked} links tracked, {pixels} pixels",
        files.len()
    );
}
