//! Dropped key material leaves no precomputed HMAC state in freed memory.
//!
//! A signing or pseudonym key keeps HMAC-SHA256's inner and outer states after the
//! first block (the key XOR ipad / opad): with them anyone can compute tags without
//! the secret. A scanning global allocator looks for those states, computed here
//! independently of the crate with the SHA-256 compression function of FIPS 180-4, in
//! every heap block as it is freed. This file holds a single test so no other test
//! frees memory while it scans.
#![allow(
    unsafe_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

#[cfg(feature = "rewrite")]
use hashbeacon::rewrite::{Options, Recipient, Template};
use hashbeacon::sink::MemorySink;
use hashbeacon::{Claims, Endpoint, Key, KeyId, Keyring, Kind, LinkId, PseudonymKey, Request, Tracker};

// ---------------------------------------------------------------------------------
// The SHA-256 compression function (FIPS 180-4 §6.2.2), for the expected states.

const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

const IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

fn compress(state: [u32; 8], block: &[u8; 64]) -> [u32; 8] {
    let mut w = [0u32; 64];
    for (i, word) in block.chunks_exact(4).enumerate() {
        w[i] = u32::from_be_bytes(word.try_into().unwrap());
    }
    for i in 16..64 {
        let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
        let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16].wrapping_add(s0).wrapping_add(w[i - 7]).wrapping_add(s1);
    }
    let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = state;
    for i in 0..64 {
        let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
        let ch = (e & f) ^ (!e & g);
        let t1 = h
            .wrapping_add(s1)
            .wrapping_add(ch)
            .wrapping_add(K[i])
            .wrapping_add(w[i]);
        let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
        let maj = (a & b) ^ (a & c) ^ (b & c);
        let t2 = s0.wrapping_add(maj);
        (h, g, f, e, d, c, b, a) = (g, f, e, d.wrapping_add(t1), c, b, a, t1.wrapping_add(t2));
    }
    let mut out = state;
    for (word, add) in out.iter_mut().zip([a, b, c, d, e, f, g, h]) {
        *word = word.wrapping_add(add);
    }
    out
}

/// The state after HMAC-SHA256's first block for a secret of at most 64 bytes, XORed
/// with `pad` (0x36 inner, 0x5c outer), as the state's eight words lie in memory.
fn midstate(secret: &[u8], pad: u8) -> [u8; 32] {
    let mut block = [pad; 64];
    for (byte, key) in block.iter_mut().zip(secret) {
        *byte ^= key;
    }
    let mut out = [0u8; 32];
    for (bytes, word) in out.chunks_exact_mut(4).zip(compress(IV, &block)) {
        bytes.copy_from_slice(&word.to_ne_bytes());
    }
    out
}

// ---------------------------------------------------------------------------------
// The scanning allocator.

struct Scanning;

/// The states looked for; set once, before scanning starts (reading it never allocates).
static NEEDLES: OnceLock<Vec<[u8; 32]>> = OnceLock::new();
static SCANNING: AtomicBool = AtomicBool::new(false);
static HITS: AtomicUsize = AtomicUsize::new(0);

fn count_needles(block: &[u8]) -> usize {
    let Some(needles) = NEEDLES.get() else {
        return 0;
    };
    needles
        .iter()
        .filter(|needle| {
            block
                .windows(needle.len())
                .any(|window| window == needle.as_slice())
        })
        .count()
}

// SAFETY: every call is forwarded to the system allocator; `dealloc` first reads the
// block it is given, which is live and `layout.size()` bytes long until it is freed.
// `realloc` is not overridden: the default moves the block with `alloc`, a copy and
// `dealloc`, so a block given up by growth is scanned too.
unsafe impl GlobalAlloc for Scanning {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if SCANNING.load(Ordering::SeqCst) {
            // SAFETY: `ptr` is a live block of `layout.size()` bytes until freed below.
            let block = unsafe { std::slice::from_raw_parts(ptr, layout.size()) };
            HITS.fetch_add(count_needles(block), Ordering::SeqCst);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Scanning = Scanning;

// ---------------------------------------------------------------------------------

const SIGNING: [u8; 32] = *b"signing key secret, 32 bytes ok!";
const PSEUDONYM: [u8; 40] = *b"pseudonym key secret of forty bytes long";

fn verify_only_secret(i: u8) -> [u8; 32] {
    let mut secret = *b"verify-only key secret no. ?....";
    secret[27] = b'0' + i;
    secret
}

#[test]
fn dropped_keys_leave_no_hmac_state_in_freed_memory() {
    // The states themselves; the SHA-256 here checked against FIPS 180-2's "abc".
    let mut abc = [0u8; 64];
    abc[..3].copy_from_slice(b"abc");
    abc[3] = 0x80;
    abc[63] = 24;
    assert_eq!(compress(IV, &abc)[0], 0xba7816bf);
    let mut secrets: Vec<Vec<u8>> = vec![SIGNING.to_vec(), PSEUDONYM.to_vec()];
    secrets.extend((0..6).map(|i| verify_only_secret(i).to_vec()));
    let needles: Vec<[u8; 32]> = secrets
        .iter()
        .flat_map(|secret| [midstate(secret, 0x36), midstate(secret, 0x5c)])
        .collect();
    NEEDLES.set(needles).unwrap();

    // The control: a key freed without its drop leaves both states behind, so the
    // search finds what it looks for.
    SCANNING.store(true, Ordering::SeqCst);
    let undropped = |secret: &[u8]| {
        let key = Key::new(KeyId::new("k1").unwrap(), secret).unwrap();
        drop(Box::new(std::mem::ManuallyDrop::new(key)));
        drop(Box::new(std::mem::ManuallyDrop::new(
            PseudonymKey::new(secret).unwrap(),
        )));
    };
    undropped(&SIGNING);
    assert!(
        HITS.swap(0, Ordering::SeqCst) >= 4,
        "the states of both undropped keys"
    );

    let key = Box::new(Key::new(KeyId::new("k1").unwrap(), &SIGNING).unwrap());
    let pseudonym_key = Box::new(PseudonymKey::new(&PSEUDONYM).unwrap());
    let pseudonym = pseudonym_key.pseudonym("ada@example.com");
    drop(pseudonym_key);
    let text = key.to_text();
    drop(key);

    // A keyring of six verify-only keys (its storage grows as they are added), a
    // tracker, an endpoint verifying a click, and (with the rewriter) a compiled
    // template.
    let mut ring_text = String::from(text.as_str());
    for i in 0..6 {
        let key = Key::new(KeyId::new(&format!("old{i}")).unwrap(), &verify_only_secret(i)).unwrap();
        ring_text.push('\n');
        ring_text.push_str(&key.to_text());
    }
    let keyring = Box::new(Keyring::from_text(&ring_text).unwrap());
    assert_eq!(keyring.verify_only_keys().len(), 6);
    let tracker = std::sync::Arc::new(Tracker::new(*keyring, "https://t.example.com/hb").unwrap());
    let claims = Claims {
        kind: Kind::Click,
        campaign: "spring",
        link: Some(LinkId::Index(0)),
        recipient: Some(pseudonym.as_str()),
        issued_at: 1_767_225_600,
        expires_at: None,
    };
    let url = tracker.click_url(&claims, "https://shop.example/").unwrap();
    let endpoint = Box::new(Endpoint::new((*tracker).clone(), MemorySink::new()));
    let target = url.strip_prefix("https://t.example.com").unwrap();
    let handled = endpoint.handle(
        &Request::new("GET", target, [203, 0, 113, 7].into()),
        1_767_229_200,
    );
    assert_eq!(handled.response.status, 302);
    #[cfg(feature = "rewrite")]
    {
        let links: String = (0..40)
            .map(|i| format!("<a href=\"https://shop.example/{i}\">{i}</a>"))
            .collect();
        let template = Template::html(&tracker, "spring", &Options::default(), links.as_bytes()).unwrap();
        let rendered = template.render(&Recipient::new(1_767_225_600)).unwrap();
        assert_eq!(rendered.report.tracked.len(), 40);
        drop((template, rendered));
    }
    drop((endpoint, tracker, text, ring_text));
    SCANNING.store(false, Ordering::SeqCst);

    assert_eq!(
        HITS.load(Ordering::SeqCst),
        0,
        "HMAC states found in freed heap blocks"
    );
}
