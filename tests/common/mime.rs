//! An independent check of a rewritten message: `mailparse` (not the MIME parser the
//! library uses) parses input and output, and every part is compared.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::HashSet;
use std::ops::Range;

use hashbeacon::Tracker;
use hashbeacon::message::{LeftAlone, MessageOptions, PartOutcome, RewrittenMessage};
use hashbeacon::rewrite::{Charset, Message, rewrite_html, rewrite_text};
use mailparse::{DispositionType, ParsedMail};

/// One node of the MIME tree as mailparse sees it, with byte ranges in its message.
struct Node<'a> {
    number: String,
    part: &'a ParsedMail<'a>,
    headers: Range<usize>,
    body: Range<usize>,
}

fn offset(message: &[u8], slice: &[u8]) -> usize {
    slice.as_ptr() as usize - message.as_ptr() as usize
}

/// Every node, depth first in document order, numbered as IMAP numbers parts.
fn nodes<'a>(message: &[u8], root: &'a ParsedMail<'a>) -> Vec<Node<'a>> {
    let mut out = Vec::new();
    let mut stack = vec![(root, String::new())];
    while let Some((part, number)) = stack.pop() {
        let start = offset(message, part.raw_bytes);
        let header_len = part.get_headers().get_raw_bytes().len();
        let body_start = start + header_len;
        let body_end = start + part.raw_bytes.len();
        for (i, sub) in part.subparts.iter().enumerate().rev() {
            let n = if number.is_empty() {
                (i + 1).to_string()
            } else {
                format!("{number}.{}", i + 1)
            };
            stack.push((sub, n));
        }
        let number = if number.is_empty() && part.subparts.is_empty() {
            "1".to_owned()
        } else {
            number
        };
        out.push(Node {
            number,
            part,
            headers: start..body_start,
            body: body_start..body_end,
        });
    }
    out
}

fn is_leaf(node: &Node<'_>) -> bool {
    node.part.subparts.is_empty()
}

fn header_value(part: &ParsedMail<'_>, name: &str) -> Option<String> {
    part.headers
        .iter()
        .find(|h| h.get_key().eq_ignore_ascii_case(name))
        .map(|h| {
            String::from_utf8_lossy(h.get_value_raw())
                .trim()
                .to_ascii_lowercase()
        })
}

/// The transfer-decoded body, line breaks as CRLF (mailparse's quoted-printable
/// decoder writes CRLF whatever the message uses).
fn decoded(part: &ParsedMail<'_>) -> Option<Vec<u8>> {
    part.get_body_raw().ok().map(|body| normalize(&body))
}

/// Line breaks as CRLF (mailparse's quoted-printable decoder writes CRLF).
fn normalize(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    for (i, &b) in body.iter().enumerate() {
        if b == b'\n' && (i == 0 || body[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

/// A part the rewriter should rewrite: HTML or plain text, not an attachment.
fn candidate(part: &ParsedMail<'_>) -> Option<bool> {
    let html = match part.ctype.mimetype.as_str() {
        "text/html" => true,
        "text/plain" => false,
        _ => return None,
    };
    (part.get_content_disposition().disposition != DispositionType::Attachment).then_some(html)
}

/// The charset to give the body rewriter for a part: `Some(None)` when the part
/// declares none (mailparse's default is US-ASCII), so the body's own declaration or
/// UTF-8 applies; `None` when the part cannot be rewritten.
fn charset(part: &ParsedMail<'_>) -> Option<Option<Charset>> {
    let label = part.ctype.charset.as_str();
    if label.eq_ignore_ascii_case("us-ascii") {
        Some(None)
    } else {
        Charset::from_label(label).ok().map(Some)
    }
}

/// What the check saw: parts rewritten with a change, and parts left alone.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    pub(crate) changed: usize,
    pub(crate) left_alone: Vec<(String, LeftAlone)>,
    pub(crate) tracked: usize,
    pub(crate) pixels: usize,
    /// mailparse refuses the input (and the output).
    pub(crate) unparsed: bool,
}

/// Without a parse to compare, the output must still be the input's bytes around the
/// bodies the library reports changed: each stretch of the input between two such
/// bodies appears, in order, in the output.
fn splice_reported(input: &[u8], out: &RewrittenMessage) {
    let mut changed: Vec<_> = out
        .parts
        .iter()
        .filter(|part| {
            part.outcome
                .report()
                .is_some_and(|r| r.pixel || !r.tracked.is_empty())
        })
        .map(|part| part.body.clone())
        .collect();
    changed.sort_by_key(|range| range.start);
    let mut at_in = 0;
    let mut at_out = 0;
    for body in changed {
        let gap = &input[at_in..body.start];
        assert!(
            out.message[at_out..].starts_with(gap),
            "the bytes before a rewritten body are kept"
        );
        at_out += gap.len();
        at_in = body.end;
        let next_gap_end = out
            .parts
            .iter()
            .map(|part| part.body.start)
            .filter(|&start| start > at_in)
            .min()
            .unwrap_or(input.len());
        let next_gap = &input[at_in..next_gap_end];
        let found = out.message[at_out..]
            .windows(next_gap.len().max(1))
            .position(|window| window == next_gap)
            .expect("the bytes after a rewritten body are kept");
        at_out += found;
    }
    assert!(out.message[at_out..] == input[at_in..], "the tail is kept");
}

/// Checks `out` against `input`: the same tree and headers (bar a transfer encoding
/// switched to quoted-printable), every byte outside the parts' bodies the same, parts
/// that are not rewritten byte for byte the same, and every rewritten HTML and text
/// body equal to what `rewrite_html` / `rewrite_text` make of the decoded input body.
pub(crate) fn check(
    tracker: &Tracker,
    message: &Message<'_>,
    options: &MessageOptions,
    input: &[u8],
    out: &RewrittenMessage,
) -> Seen {
    let parsed_in = match mailparse::parse_mail(input) {
        Ok(parsed) => parsed,
        Err(error) => {
            // mailparse refuses some malformed messages: the output must be refused
            // alike, and may differ from the input only inside the reported bodies.
            let again = mailparse::parse_mail(&out.message).err();
            assert_eq!(
                again.map(|e| e.to_string()),
                Some(error.to_string()),
                "refused alike"
            );
            splice_reported(input, out);
            return Seen {
                unparsed: true,
                ..Seen::default()
            };
        }
    };
    let parsed_out = mailparse::parse_mail(&out.message).expect("the output parses");
    let nodes_in = nodes(input, &parsed_in);
    let nodes_out = nodes(&out.message, &parsed_out);
    assert_eq!(nodes_in.len(), nodes_out.len(), "same number of parts");

    let html_candidates: Vec<usize> = (0..nodes_in.len())
        .filter(|&i| is_leaf(&nodes_in[i]) && candidate(nodes_in[i].part) == Some(true))
        .collect();
    let shown_html = html_candidates.last().copied();
    let mut leave_alone: HashSet<String> = HashSet::new();
    let mut expected: Vec<Option<Vec<u8>>> = vec![None; nodes_in.len()];
    // HTML first, as the library promises; the text parts then leave alone what the
    // author kept out of tracking in the HTML.
    for html_pass in [true, false] {
        for (i, node) in nodes_in.iter().enumerate() {
            if !is_leaf(node) || candidate(node.part) != Some(html_pass) {
                continue;
            }
            let Some(charset) = charset(node.part) else {
                continue;
            };
            let mut body_options = options.body.clone();
            body_options.charset = charset;
            let Some(body) = decoded(node.part) else { continue };
            let rewritten = if html_pass {
                if Some(i) != shown_html {
                    body_options.opens = false;
                    body_options.honeypot = false;
                }
                rewrite_html(tracker, message, &body_options, &body)
            } else {
                body_options.leave_alone.extend(leave_alone.iter().cloned());
                rewrite_text(tracker, message, &body_options, &body)
            };
            let Ok(rewritten) = rewritten else { continue };
            if html_pass {
                leave_alone.extend(rewritten.report.left_alone_by_author().map(str::to_owned));
            }
            expected[i] = Some(rewritten.body);
        }
    }

    // Parts are paired with the library's report by where their bodies are: mailparse
    // splits some malformed trees differently (it takes a boundary that is a prefix of
    // a nested one for a delimiter), and its extra parts must then be left untouched.
    let mut verified = HashSet::new();
    let mut seen = Seen::default();
    // Splice the output's leaf bodies (and a changed header block) into the input: that
    // must give the output exactly, so nothing outside them changed.
    let mut spliced = Vec::new();
    let mut copied = 0;
    for (node_in, node_out) in nodes_in.iter().zip(&nodes_out) {
        let (pin, pout) = (node_in.part, node_out.part);
        assert_eq!(node_in.number, node_out.number);
        let number = &node_in.number;
        assert_eq!(
            pin.ctype.mimetype, pout.ctype.mimetype,
            "part {number}: same type"
        );
        assert_eq!(
            pin.subparts.len(),
            pout.subparts.len(),
            "part {number}: same children"
        );
        let headers_in = &input[node_in.headers.clone()];
        let headers_out = &out.message[node_out.headers.clone()];
        if headers_in != headers_out {
            let cte_in = header_value(pin, "content-transfer-encoding");
            let cte_out = header_value(pout, "content-transfer-encoding");
            assert!(
                matches!(cte_in.as_deref(), None | Some("7bit" | "8bit"))
                    && cte_out.as_deref() == Some("quoted-printable"),
                "part {number}: headers differ other than by a switch to quoted-printable ({cte_in:?} -> {cte_out:?})"
            );
            let others = |part: &ParsedMail<'_>| {
                part.headers
                    .iter()
                    .filter(|h| !h.get_key().eq_ignore_ascii_case("content-transfer-encoding"))
                    .map(|h| (h.get_key(), h.get_value_raw().to_vec()))
                    .collect::<Vec<_>>()
            };
            assert_eq!(
                others(pin),
                others(pout),
                "part {number}: other headers byte for byte"
            );
            spliced.extend_from_slice(&input[copied..node_in.headers.start]);
            spliced.extend_from_slice(headers_out);
            copied = node_in.headers.end;
        }
        if !is_leaf(node_in) {
            continue;
        }
        let body_in = &input[node_in.body.clone()];
        let body_out = &out.message[node_out.body.clone()];
        spliced.extend_from_slice(&input[copied..node_in.body.start]);
        spliced.extend_from_slice(body_out);
        copied = node_in.body.end;

        let Some(html) = candidate(pin) else {
            assert_eq!(
                body_in, body_out,
                "part {number} ({}): left byte for byte",
                pin.ctype.mimetype
            );
            continue;
        };
        let Some(report) = out.parts.iter().find(|part| part.body == node_in.body) else {
            assert_eq!(
                body_in, body_out,
                "part {number} unknown to the library: untouched"
            );
            continue;
        };
        verified.insert(report.number.clone());
        assert_eq!(
            report.content_type, pin.ctype.mimetype,
            "part {number}: reported type"
        );
        match &report.outcome {
            PartOutcome::LeftAlone(reason) => {
                assert_eq!(
                    body_in, body_out,
                    "part {number} left alone ({reason}): byte for byte"
                );
                seen.left_alone.push((number.clone(), reason.clone()));
            }
            PartOutcome::Rewritten { report, .. } => {
                let want = expected[nodes_in.iter().position(|n| &n.number == number).unwrap()]
                    .as_ref()
                    .unwrap_or_else(|| {
                        panic!("part {number}: the library rewrote a part the check could not")
                    });
                let got = decoded(pout).expect("a rewritten body decodes");
                if &got != want {
                    let at = got.iter().zip(want).take_while(|(a, b)| a == b).count();
                    let context = |body: &[u8]| {
                        String::from_utf8_lossy(&body[at.saturating_sub(40)..(at + 60).min(body.len())])
                            .into_owned()
                    };
                    panic!(
                        "part {number} ({}): body is not what the body rewriter makes of the decoded input; from byte {at}\n got: {:?}\nwant: {:?}",
                        pin.ctype.mimetype,
                        context(&got),
                        context(want)
                    );
                }
                if body_in != body_out {
                    seen.changed += 1;
                }
                seen.tracked += report.tracked.len();
                seen.pixels += usize::from(html && report.pixel);
            }
            other => panic!("part {number}: unexpected outcome {other:?}"),
        }
    }
    for part in &out.parts {
        if part.outcome.report().is_some_and(|report| {
            Some(report.bytes_before) != report.bytes_after || report.pixel || !report.tracked.is_empty()
        }) {
            assert!(
                verified.contains(&part.number),
                "rewritten part {} was checked",
                part.number
            );
        }
    }
    spliced.extend_from_slice(&input[copied..]);
    assert!(
        spliced == out.message,
        "nothing outside the parts' bodies changed"
    );
    seen
}
