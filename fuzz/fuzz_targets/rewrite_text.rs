//! `rewrite_text` on arbitrary bytes under several option sets: never panics, output
//! grows only linearly, every URL the report calls tracked verifies to its reported
//! destination, and rewriting the output again tracks nothing twice (see
//! `hashbeacon_fuzz::check_rewrite`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hashbeacon_fuzz::fuzz_rewrite(data, false));
