//! Memory used rewriting a message with a 50 MB attachment, measured with a global
//! allocator that tracks the peak of live heap bytes.
//!
//! Beyond the input, rewriting holds the output and the parts it rewrites: the MIME
//! parser only finds where parts end, and attachments are never decoded or copied.
// A global allocator is `unsafe impl` by definition; this test crate is one of the
// places the crate allows it (the library itself is `#![forbid(unsafe_code)]`).
#![cfg(feature = "message")]
#![allow(unsafe_code, clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use common::{NOW, tracker};
use hashbeacon::message::{LeftAlone, MessageOptions, PartOutcome, rewrite_message};
use hashbeacon::rewrite::{Message, Recipient};

/// Tracks live and peak heap bytes of the current thread while tracking is on.
struct Peak;

thread_local! {
    static TRACKING: Cell<bool> = const { Cell::new(false) };
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn track(delta: isize) {
    let _ = TRACKING.try_with(|on| {
        if on.get() {
            let _ = LIVE.try_with(|live| {
                live.set(live.get() + delta);
                let _ = PEAK.try_with(|peak| peak.set(peak.get().max(live.get())));
            });
        }
    });
}

fn signed(size: usize) -> isize {
    isize::try_from(size).unwrap_or(isize::MAX)
}

// SAFETY: every call is forwarded unchanged to the system allocator; the counters are
// thread-local `Cell`s with const initializers, which never allocate.
unsafe impl GlobalAlloc for Peak {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        track(signed(layout.size()));
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, passed through.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        track(-signed(layout.size()));
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        track(signed(new_size) - signed(layout.size()));
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Peak = Peak;

/// The peak of heap bytes live at once while `f` runs, above what was live before.
fn peak_bytes<T>(f: impl FnOnce() -> T) -> (usize, T) {
    LIVE.with(|live| live.set(0));
    PEAK.with(|peak| peak.set(0));
    TRACKING.with(|on| on.set(true));
    let out = f();
    TRACKING.with(|on| on.set(false));
    (usize::try_from(PEAK.with(Cell::get)).unwrap_or(0), out)
}

#[test]
fn a_50_mb_attachment_costs_memory_linear_in_the_message_and_stays_byte_for_byte() {
    let line = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAx\r\n";
    let attachment = line.repeat(50 * 1024 * 1024 / line.len());
    let raw = format!(
        "From: shop@example.com\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
--b\r\nContent-Type: text/html\r\n\r\n<p><a href=\"https://shop.example/\">Shop</a></p>\r\n\
--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=big.bin\r\n\
Content-Transfer-Encoding: base64\r\n\r\n{attachment}--b--\r\n"
    )
    .into_bytes();
    let message = Message::new("big", Recipient::new(NOW));
    let (peak, out) =
        peak_bytes(|| rewrite_message(&tracker(), &message, &MessageOptions::default(), &raw).unwrap());

    assert_eq!(
        out.parts[1].outcome,
        PartOutcome::LeftAlone(LeftAlone::Attachment)
    );
    assert_eq!(out.parts[0].outcome.report().unwrap().tracked.len(), 1);
    let tail = &raw[raw.len() - attachment.len() - 7..];
    assert!(
        out.message.ends_with(tail),
        "the attachment is kept byte for byte"
    );
    // The output (one message, grown by a link and a pixel) and a little more: no
    // decoded copy of the attachment (3/4 of its base64) is ever made.
    let bound = raw.len() + 1024 * 1024;
    assert!(
        peak <= bound,
        "peak {peak} bytes for a {} byte message",
        raw.len()
    );
}
