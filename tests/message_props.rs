//! Property tests over random MIME trees (nesting, transfer encodings, charsets, CRLF
//! and LF): a recipient who opted out gets the exact input bytes back, and a rewritten
//! message parses, with an independent parser, to the same tree with every HTML and
//! text body equal to what the body rewriters make of it; the one-click unsubscribe
//! headers are two fields more at the end of the top-level headers, and nothing else.
#![cfg(feature = "message")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;
#[path = "common/mime.rs"]
mod mime;

use base64::Engine as _;
use common::{NOW, tracker};
use hashbeacon::PseudonymKey;
use hashbeacon::message::{ListUnsubscribe, MessageOptions, PartOutcome, rewrite_message};
use hashbeacon::rewrite::{Message, Recipient};
use hashbeacon::unsubscribe::Mailto;
use mailparse::MailHeaderMap as _;
use proptest::prelude::*;

#[derive(Clone, Copy, Debug)]
enum Type {
    Html,
    Text,
    Png,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Cte {
    Absent,
    SevenBit,
    EightBit,
    QuotedPrintable,
    Base64,
}

#[derive(Clone, Debug)]
struct Leaf {
    kind: Type,
    cte: Cte,
    /// `None`: no charset parameter.
    charset: Option<&'static str>,
    attachment: bool,
    lines: Vec<String>,
}

#[derive(Clone, Debug)]
enum Tree {
    Leaf(Leaf),
    Multi {
        subtype: &'static str,
        preamble: bool,
        children: Vec<Tree>,
    },
}

fn word(html: bool) -> impl Strategy<Value = String> {
    let link = "[a-z]{1,8}".prop_map(move |path| {
        if html {
            format!("<a href=\"https://shop.example/{path}?a=1&amp;b=2\">{path}</a>")
        } else {
            format!("https://shop.example/{path}?a=1")
        }
    });
    prop_oneof![
        4 => "[a-zA-Z=.,;]{1,12}",
        1 => Just("café".to_owned()),
        1 => Just("Grüße".to_owned()),
        1 => Just("x".repeat(90)),
        2 => link,
        1 => Just(if html { "<a data-hb-notrack href=\"https://shop.example/me\">me</a>" } else { "https://shop.example/me" }.to_owned()),
    ]
}

fn leaf() -> impl Strategy<Value = Leaf> {
    let kind = prop_oneof![3 => Just(Type::Html), 3 => Just(Type::Text), 1 => Just(Type::Png)];
    let cte = prop_oneof![
        Just(Cte::Absent),
        Just(Cte::SevenBit),
        Just(Cte::EightBit),
        Just(Cte::QuotedPrintable),
        Just(Cte::Base64),
    ];
    let charset = prop_oneof![
        Just(None),
        Just(Some("utf-8")),
        Just(Some("iso-8859-1")),
        Just(Some("us-ascii"))
    ];
    (kind, cte, charset, proptest::bool::weighted(0.15)).prop_flat_map(|(kind, cte, charset, attachment)| {
        let html = matches!(kind, Type::Html);
        let line = proptest::collection::vec(word(html), 0..8).prop_map(|words| words.join(" "));
        proptest::collection::vec(line, 0..6).prop_map(move |lines| Leaf {
            kind,
            cte,
            charset,
            attachment,
            lines,
        })
    })
}

fn tree() -> impl Strategy<Value = Tree> {
    leaf().prop_map(Tree::Leaf).prop_recursive(4, 24, 4, |inner| {
        (
            prop_oneof![Just("mixed"), Just("alternative"), Just("related")],
            any::<bool>(),
            proptest::collection::vec(inner, 1..4),
        )
            .prop_map(|(subtype, preamble, children)| Tree::Multi {
                subtype,
                preamble,
                children,
            })
    })
}

/// The leaf's body text in its charset; text a 7bit or US-ASCII part cannot hold is
/// replaced by ASCII.
fn body_bytes(leaf: &Leaf, eol: &str) -> Vec<u8> {
    let text = leaf.lines.join(eol);
    let ascii_only =
        matches!(leaf.cte, Cte::Absent | Cte::SevenBit) || matches!(leaf.charset, None | Some("us-ascii"));
    let text = if ascii_only {
        text.replace('é', "e").replace('ü', "u").replace('ß', "ss")
    } else {
        text
    };
    match leaf.charset {
        Some("iso-8859-1") => encoding_rs::WINDOWS_1252.encode(&text).0.into_owned(),
        _ => text.into_bytes(),
    }
}

fn write(tree: &Tree, eol: &str, path: &str, out: &mut Vec<u8>) {
    match tree {
        Tree::Leaf(leaf) => {
            let (mime, body) = match leaf.kind {
                Type::Html => ("text/html", body_bytes(leaf, eol)),
                Type::Text => ("text/plain", body_bytes(leaf, eol)),
                Type::Png => (
                    "image/png",
                    b"\x89PNG\r\n\x1a\n\x00\x00binary".repeat(leaf.lines.len() + 1),
                ),
            };
            let charset = leaf
                .charset
                .map(|c| format!("; charset=\"{c}\""))
                .unwrap_or_default();
            out.extend_from_slice(format!("Content-Type: {mime}{charset}{eol}").as_bytes());
            if leaf.attachment {
                out.extend_from_slice(
                    format!("Content-Disposition: attachment; filename=\"f{path}\"{eol}").as_bytes(),
                );
            }
            let cte = match (leaf.kind, leaf.cte) {
                (Type::Png, _) => Cte::Base64,
                (_, cte) => cte,
            };
            let (name, encoded) = match cte {
                Cte::Absent => (None, body),
                Cte::SevenBit => (Some("7bit"), body),
                Cte::EightBit => (Some("8bit"), body),
                Cte::QuotedPrintable => {
                    let encoded = quoted_printable::encode_to_str(&body).replace("\r\n", eol);
                    (Some("quoted-printable"), encoded.into_bytes())
                }
                Cte::Base64 => {
                    let text = base64::engine::general_purpose::STANDARD.encode(&body);
                    let lines: Vec<&[u8]> = text.as_bytes().chunks(72).collect();
                    (Some("base64"), lines.join(eol.as_bytes()))
                }
            };
            if let Some(name) = name {
                out.extend_from_slice(format!("Content-Transfer-Encoding: {name}{eol}").as_bytes());
            }
            out.extend_from_slice(eol.as_bytes());
            out.extend_from_slice(&encoded);
        }
        Tree::Multi {
            subtype,
            preamble,
            children,
        } => {
            let boundary = format!("=_b{path}_x");
            out.extend_from_slice(
                format!("Content-Type: multipart/{subtype}; boundary=\"{boundary}\"{eol}{eol}").as_bytes(),
            );
            if *preamble {
                out.extend_from_slice(
                    format!("This is a multi-part message in MIME format.{eol}").as_bytes(),
                );
            }
            for (i, child) in children.iter().enumerate() {
                out.extend_from_slice(format!("--{boundary}{eol}").as_bytes());
                write(child, eol, &format!("{path}_{i}"), out);
                out.extend_from_slice(eol.as_bytes());
            }
            out.extend_from_slice(format!("--{boundary}--{eol}").as_bytes());
            if *preamble {
                out.extend_from_slice(format!("Epilogue.{eol}").as_bytes());
            }
        }
    }
}

fn message_bytes(tree: &Tree, crlf: bool) -> Vec<u8> {
    let eol = if crlf { "\r\n" } else { "\n" };
    let mut out = format!("From: shop@example.com{eol}Subject: Sale{eol}MIME-Version: 1.0{eol}").into_bytes();
    write(tree, eol, "0", &mut out);
    out
}

fn leaves(tree: &Tree) -> usize {
    match tree {
        Tree::Leaf(_) => 1,
        Tree::Multi { children, .. } => children.iter().map(leaves).sum(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn an_opted_out_recipient_gets_the_exact_bytes_back(tree in tree(), crlf: bool) {
        let raw = message_bytes(&tree, crlf);
        let message = Message::new("props", Recipient::new(NOW).opted_out(true));
        let out = rewrite_message(&tracker(), &message, &MessageOptions::default(), &raw).unwrap();
        prop_assert_eq!(out.parts.len(), leaves(&tree));
        prop_assert!(out.message == raw);
    }

    #[test]
    fn a_rewritten_message_parses_to_the_same_tree_with_rewritten_bodies(tree in tree(), crlf: bool) {
        let raw = message_bytes(&tree, crlf);
        let message = Message::new("props", Recipient::new(NOW));
        let options = MessageOptions::default();
        let out = rewrite_message(&tracker(), &message, &options, &raw).unwrap();
        prop_assert_eq!(out.parts.len(), leaves(&tree));
        let seen = mime::check(&tracker(), &message, &options, &raw, &out);
        // Every HTML and text part is well formed here: none is left alone.
        prop_assert!(seen.left_alone.is_empty(), "{:?}", seen.left_alone);
        prop_assert!(seen.pixels <= 1);
        let html_shown = out.parts.iter().any(|part| part.content_type == "text/html"
            && matches!(part.outcome, PartOutcome::Rewritten { .. }));
        prop_assert_eq!(seen.pixels == 1, html_shown);
        // Line endings are the message's own.
        if !crlf {
            prop_assert!(!out.message.windows(2).any(|w| w == b"\r\n") || raw.windows(2).any(|w| w == b"\r\n"));
        }
    }

    #[test]
    fn list_unsubscribe_adds_its_fields_and_moves_nothing(
        tree in tree(),
        crlf: bool,
        opted_out: bool,
        mailto: bool,
    ) {
        let raw = message_bytes(&tree, crlf);
        let ada = PseudonymKey::new(&[0x42; 32]).unwrap().pseudonym("ada@example.com");
        let message = Message::new("props", Recipient::new(NOW).with_pseudonym(&ada).opted_out(opted_out));
        let mailto = mailto.then(|| Mailto::new("leave@shop.example").unwrap());
        let mut options = MessageOptions::default();
        let mut list_unsubscribe = ListUnsubscribe::new();
        if let Some(mailto) = &mailto {
            list_unsubscribe = list_unsubscribe.with_mailto(mailto.clone());
        }
        options.list_unsubscribe = Some(list_unsubscribe);
        let out = rewrite_message(&tracker(), &message, &options, &raw).unwrap();

        // The two fields, in the message's line ending, where its headers end.
        let eol = if crlf { "\r\n" } else { "\n" };
        let blank = format!("{eol}{eol}");
        let at = raw.windows(blank.len()).position(|w| w == blank.as_bytes()).unwrap() + eol.len();
        let headers = tracker().unsubscribe_headers("props", &ada, NOW, mailto.as_ref()).unwrap();
        let lines = headers.to_lines().replace("\r\n", eol);
        prop_assert!(out.message[..at] == raw[..at]);
        prop_assert!(out.message[at..].starts_with(lines.as_bytes()));
        let mut stripped = out.clone();
        stripped.message = [&raw[..at], &out.message[at + lines.len()..]].concat();
        if opted_out {
            prop_assert!(stripped.message == raw);
        } else {
            mime::check(&tracker(), &message, &options, &raw, &stripped);
        }

        // A mailbox provider finds the one-click URL, signed for the recipient.
        let parsed = mailparse::parse_mail(&out.message).unwrap();
        let value = parsed.headers.get_all_values("List-Unsubscribe");
        let post = parsed.headers.get_first_value("List-Unsubscribe-Post");
        prop_assert_eq!(value.len(), 1);
        let url = match list_unsubscribe::parse_with_post(&value[0], post.as_deref()) {
            list_unsubscribe::UnsubscribeMethod::OneClick { url } => url.to_string(),
            other => panic!("not one-click: {other:?}"),
        };
        let path = url.strip_prefix("https://t.example.com").unwrap();
        let verified = tracker().verify_unsubscribe(path, NOW).unwrap();
        prop_assert_eq!(verified.claims.recipient, Some(ada.as_str()));
    }
}
