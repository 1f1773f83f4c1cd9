//! Putting the message back together: the input's bytes with a few ranges replaced.
//!
//! Nothing is re-serialized: every byte outside an [`Edit`] is copied from the input.

use std::ops::Range;

/// Replace `range` of the input with `bytes` (an empty range inserts).
#[derive(Debug)]
pub(crate) struct Edit {
    pub(crate) range: Range<usize>,
    pub(crate) bytes: Vec<u8>,
}

/// The input with the edits applied; `None` if two edits overlap or one lies outside
/// the input (then nothing can be applied safely).
pub(crate) fn apply(raw: &[u8], mut edits: Vec<Edit>) -> Option<Vec<u8>> {
    // Stable: insertions at one offset keep the order they were made in.
    edits.sort_by_key(|edit| (edit.range.start, edit.range.end));
    let added: usize = edits.iter().map(|edit| edit.bytes.len()).sum();
    let removed: usize = edits.iter().map(|edit| edit.range.len()).sum();
    let mut out = Vec::with_capacity((raw.len() + added).saturating_sub(removed));
    let mut copied = 0;
    for edit in edits {
        out.extend_from_slice(raw.get(copied..edit.range.start)?);
        if edit.range.end < edit.range.start {
            return None;
        }
        out.extend_from_slice(&edit.bytes);
        copied = edit.range.end;
    }
    out.extend_from_slice(raw.get(copied..)?);
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn edit(range: Range<usize>, bytes: &str) -> Edit {
        Edit {
            range,
            bytes: bytes.as_bytes().to_vec(),
        }
    }

    #[test]
    fn splices_in_order_and_refuses_overlaps() {
        let raw = b"0123456789";
        let out = apply(
            raw,
            vec![
                edit(8..9, "X"),
                edit(2..4, "ab"),
                edit(5..5, "+"),
                edit(5..5, "-"),
            ],
        )
        .unwrap();
        assert_eq!(out, b"01ab4+-567X9");
        assert_eq!(apply(raw, vec![edit(2..6, "a"), edit(4..8, "b")]), None);
        assert_eq!(apply(raw, vec![edit(9..11, "a")]), None);
        assert_eq!(apply(raw, Vec::new()).unwrap(), raw);
    }
}
