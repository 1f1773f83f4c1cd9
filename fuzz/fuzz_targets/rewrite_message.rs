//! `rewrite_message` on arbitrary bytes: never panics; a recipient who opted out gets
//! the input back byte for byte; with a header field and the List-Unsubscribe headers
//! to add, parts are reported in order within the input, every
//! part left alone is still in the output, and the output grows only linearly (see
//! `hashbeacon_fuzz::fuzz_rewrite_message`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hashbeacon_fuzz::fuzz_rewrite_message(data));
