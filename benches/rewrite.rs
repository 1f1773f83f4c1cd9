//! Rewriting a ~100 KB newsletter with ~60 links, and rendering a compiled template,
//! each beside its baseline measured in the same run.
//!
//! - `rewrite/lol_html_href_noop`: lol_html over the same body with one `a[href]`
//!   element handler that does nothing — the cost of merely finding the links.
//! - `rewrite/lol_html_passthrough`: lol_html with no handlers (short-circuited).
//! - `render/copy_plus_macs`: copying as many bytes as the rendered body has, plus one
//!   HMAC-SHA256 per token (per link and the pixel) over the per-recipient tail from a
//!   precomputed state — what any per-recipient renderer must at least do.
//! - `message/rewrite_html_plus_text`: `rewrite_html` and `rewrite_text` on the decoded
//!   bodies of the message that `message/rewrite_message` rewrites whole (a
//!   multipart/alternative of the newsletter as quoted-printable HTML, a plain-text
//!   version and a base64 attachment) — the body rewriting any message rewriter does,
//!   without the MIME work.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::fmt::Write as _;
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hashbeacon::message::{MessageOptions, rewrite_message};
use hashbeacon::rewrite::{Message, Options, Recipient, Template, rewrite_html, rewrite_text};
use hashbeacon::{Key, KeyId, PseudonymKey, Tracker};
use hmac::{KeyInit, Mac};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

const NOW: u64 = 1_767_225_600;
const CAMPAIGN: &str = "newsletter-2026-11-week-48";

const PARAGRAPH: &str = "Our winter collection has landed, and with it the boots our readers asked for all \
year: waterproof leather uppers, a lining that keeps warm down to minus twenty, and soles that grip on ice \
without turning every step into a clatter. We tested them on the ridge trail in November and again on the \
city's slushiest week in January, and they came back dry both times. Sizes run true; if you are between two, \
pick the larger one and add the wool insole that ships free with every pair this month.";

/// A newsletter as email builders produce it: MSO head, heavy inline styles, tables,
/// an Outlook VML button, tracking-style query strings with `&amp;`, a footer with
/// social, preference, unsubscribe and mailto links.
fn newsletter() -> String {
    let td = "style=\"font-family:Helvetica,Arial,sans-serif;font-size:16px;line-height:24px;color:#333333;padding:0 24px 16px 24px;mso-line-height-rule:exactly;\"";
    let link_style = "style=\"color:#0867ec;text-decoration:underline;font-weight:bold;\" target=\"_blank\"";
    let mut html = String::from(
        "<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Transitional//EN\" \"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd\">\n\
<html xmlns=\"http://www.w3.org/1999/xhtml\" xmlns:v=\"urn:schemas-microsoft-com:vml\" xmlns:o=\"urn:schemas-microsoft-com:office:office\">\n<head>\n\
<meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1.0\">\n\
<title>Winter is here</title>\n<!--[if gte mso 9]><xml><o:OfficeDocumentSettings><o:AllowPNG/><o:PixelsPerInch>96</o:PixelsPerInch></o:OfficeDocumentSettings></xml><![endif]-->\n<style type=\"text/css\">\n",
    );
    for i in 0..60 {
        let _ = writeln!(
            html,
            ".col-{i} {{ width: {}px !important; max-width: 100%; }} @media only screen and (max-width: 620px) {{ .col-{i} {{ width: 100% !important; padding: 0 12px !important; }} }}",
            100 + i
        );
    }
    html.push_str("</style>\n</head>\n<body style=\"margin:0;padding:0;background-color:#f4f5f6;\">\n");
    html.push_str("<div style=\"display:none;max-height:0;overflow:hidden;mso-hide:all;\">New boots, warm socks and 20% off everything until Sunday.</div>\n");
    let _ = writeln!(
        html,
        "<table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\"><tr><td align=\"center\" {td}>\
<a href=\"https://shop.example.com/?utm_source=newsletter&amp;utm_medium=email&amp;utm_campaign=week-48\" {link_style}><img src=\"https://cdn.example.com/logo.png\" width=\"160\" alt=\"Shop\" style=\"display:block;border:0;\"></a> \
<a href=\"https://shop.example.com/view-online?id=48&amp;r=%RECIPIENT_ID%\" {link_style}>View in browser</a></td></tr></table>"
    );
    for article in 0..14 {
        let slug = format!("winter-story-{article}");
        let _ = writeln!(
            html,
            "<table role=\"presentation\" class=\"col-{article}\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" style=\"background:#ffffff;border-radius:8px;margin:0 0 24px 0;\">\n\
<tr><td {td}><a href=\"https://shop.example.com/stories/{slug}?ref=nl&amp;pos={article}\" {link_style}><img src=\"https://cdn.example.com/img/{slug}.jpg\" width=\"552\" alt=\"{slug}\" style=\"display:block;width:100%;height:auto;border:0;\"></a></td></tr>\n\
<tr><td {td}><h2 style=\"margin:0;font-size:22px;line-height:28px;\"><a href=\"https://shop.example.com/stories/{slug}?ref=nl&amp;pos={article}&amp;el=title\" {link_style}>Story {article}: what the ridge taught us</a></h2></td></tr>\n\
<tr><td {td}>{}</td></tr>",
            format!("<p style=\"margin:0 0 12px 0;\">{PARAGRAPH}</p>\n").repeat(8)
        );
        if article == 0 {
            let _ = writeln!(
                html,
                "<tr><td align=\"center\" {td}><div><!--[if mso]><v:roundrect xmlns:v=\"urn:schemas-microsoft-com:vml\" xmlns:w=\"urn:schemas-microsoft-com:office:word\" href=\"https://shop.example.com/sale?code=WINTER20&amp;src=nl\" style=\"height:44px;v-text-anchor:middle;width:220px;\" arcsize=\"10%\" stroke=\"f\" fillcolor=\"#0867ec\"><w:anchorlock/><center style=\"color:#ffffff;font-family:sans-serif;font-size:16px;font-weight:bold;\">Shop the sale</center></v:roundrect><![endif]--><!--[if !mso]><!-- --><a href=\"https://shop.example.com/sale?code=WINTER20&amp;src=nl\" style=\"background-color:#0867ec;border-radius:4px;color:#ffffff;display:inline-block;font-family:sans-serif;font-size:16px;font-weight:bold;line-height:44px;text-align:center;text-decoration:none;width:220px;-webkit-text-size-adjust:none;\">Shop the sale</a><!--<![endif]--></div></td></tr>"
            );
        }
        let _ = writeln!(
            html,
            "<tr><td {td}><a href=\"https://shop.example.com/stories/{slug}?ref=nl&amp;pos={article}&amp;el=more\" {link_style}>Read more &rarr;</a></td></tr>\n</table>"
        );
    }
    html.push_str(
        "<table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\"><tr>\n",
    );
    for product in 0..8 {
        let _ = writeln!(
            html,
            "<td class=\"col-{product}\" width=\"25%\" {td}><a href=\"https://shop.example.com/p/boot-{product}?variant=4{product}&amp;utm_content=grid\" {link_style}>Boot model {product}<br>€ 1{product}9</a></td>"
        );
    }
    html.push_str("</tr></table>\n");
    let _ = writeln!(
        html,
        "<table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\"><tr><td align=\"center\" {td}>\
<a href=\"https://twitter.example.com/shop\" {link_style}>Twitter</a> | <a href=\"https://instagram.example.com/shop\" {link_style}>Instagram</a> | \
<a href=\"https://facebook.example.com/shop\" {link_style}>Facebook</a> | <a href=\"https://youtube.example.com/@shop\" {link_style}>YouTube</a><br>\
Shop Inc, 7-11 Commercial Ct, Belfast BT1 2NB<br>\
<a href=\"https://shop.example.com/preferences?u=8d2f&amp;list=weekly\" {link_style}>Email preferences</a> · \
<a href=\"https://shop.example.com/unsubscribe?u=8d2f&amp;list=weekly\" {link_style}>Unsubscribe</a> · \
<a href=\"mailto:help@shop.example.com?subject=Newsletter\" {link_style}>help@shop.example.com</a></td></tr></table>"
    );
    html.push_str("</body>\n</html>\n");
    html
}

struct Fixture {
    tracker: Tracker,
    body: Vec<u8>,
    options: Options,
    pseudonym: hashbeacon::Pseudonym,
}

fn fixture() -> Fixture {
    let key = Key::new(KeyId::new("k1").unwrap(), &[7; 32]).unwrap();
    Fixture {
        tracker: Tracker::new(key.into(), "https://t.example.com").unwrap(),
        body: newsletter().into_bytes(),
        options: Options::default(),
        pseudonym: PseudonymKey::new(&[9; 32]).unwrap().pseudonym("ada@example.com"),
    }
}

fn lol_html_pass(body: &[u8], handler: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut settings = lol_html::Settings::new();
    if handler {
        settings = settings.append_element_content_handler(lol_html::element!("a[href]", |_el| Ok(())));
    }
    let mut rewriter = lol_html::HtmlRewriter::new(settings, |chunk: &[u8]| out.extend_from_slice(chunk));
    rewriter.write(body).unwrap();
    rewriter.end().unwrap();
    out
}

fn rewrite(c: &mut Criterion) {
    let f = fixture();
    let recipient = Recipient::new(NOW).with_pseudonym(&f.pseudonym);
    let message = Message::new(CAMPAIGN, recipient);
    let once = rewrite_html(&f.tracker, &message, &f.options, &f.body).unwrap();
    eprintln!(
        "rewrite input: {} bytes, {} links tracked, {} left alone, output {} bytes",
        f.body.len(),
        once.report.tracked.len(),
        once.report.skipped.len(),
        once.body.len()
    );
    let mut group = c.benchmark_group("rewrite");
    group.throughput(Throughput::Bytes(f.body.len() as u64));
    group.bench_function("hashbeacon", |b| {
        b.iter(|| rewrite_html(&f.tracker, &message, &f.options, black_box(&f.body)).unwrap())
    });
    group.bench_function("lol_html_href_noop", |b| {
        b.iter(|| lol_html_pass(black_box(&f.body), true))
    });
    group.bench_function("lol_html_passthrough", |b| {
        b.iter(|| lol_html_pass(black_box(&f.body), false))
    });
    group.finish();
}

fn render(c: &mut Criterion) {
    let f = fixture();
    let recipient = Recipient::new(NOW).with_pseudonym(&f.pseudonym);
    let template = Template::html(&f.tracker, CAMPAIGN, &f.options, &f.body).unwrap();
    let mut rendered = Vec::new();
    template.render_into(&recipient, &mut rendered).unwrap();
    // One MAC per tracked link plus the pixel's, each from its own precomputed state
    // over the per-recipient tail the tokens carry.
    let macs = template.report().tracked.len() + 1;
    let mut keyed = HmacSha256::new_from_slice(&[7; 32]).unwrap();
    keyed.update(b"hashbeacon/v1/click\0");
    let states: Vec<HmacSha256> = (0..macs)
        .map(|link| {
            let mut state = keyed.clone();
            state.update(format!("1c.k1.{CAMPAIGN}.{link}.https://shop.example.com/stories/x").as_bytes());
            state
        })
        .collect();
    let tail = format!("{}.{NOW}.", f.pseudonym.as_str());
    let out_len = rendered.len();
    let source = rendered.clone();

    let mut group = c.benchmark_group("render");
    group.throughput(Throughput::Bytes(out_len as u64));
    group.bench_function("hashbeacon", |b| {
        b.iter(|| {
            let mut out = Vec::new();
            template.render_into(black_box(&recipient), &mut out).unwrap();
            out
        })
    });
    group.bench_function("copy_plus_macs", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(out_len);
            out.extend_from_slice(black_box(&source));
            for state in &states {
                let mut mac = state.clone();
                mac.update(black_box(tail.as_bytes()));
                out.extend_from_slice(mac.finalize().into_bytes().get(..16).unwrap());
            }
            out
        })
    });
    group.finish();
}

/// The plain-text version of the newsletter: its stories and links as text.
fn newsletter_text() -> String {
    let mut text =
        String::from("Winter is here\n\nView in browser: https://shop.example.com/view-online?id=48\n\n");
    for article in 0..14 {
        let _ = write!(
            text,
            "Story {article}: what the ridge taught us\n\n{PARAGRAPH}\n\nRead more: https://shop.example.com/stories/winter-story-{article}?ref=nl&pos={article}\n\n"
        );
    }
    text.push_str("Unsubscribe: https://shop.example.com/unsubscribe?u=8d2f&list=weekly\n");
    text
}

/// Quoted-printable as mail programs write it: CRLF line breaks, soft breaks at 76.
fn quoted_printable(body: &[u8]) -> String {
    let mut out = String::with_capacity(body.len() * 11 / 10);
    let mut width = 0;
    for (i, &b) in body.iter().enumerate() {
        if b == b'\n' {
            out.push_str("\r\n");
            width = 0;
            continue;
        }
        let last_on_line = body.get(i + 1).is_none_or(|&next| next == b'\n');
        let literal = (b.is_ascii_graphic() && b != b'=') || (b == b' ' && !last_on_line);
        let len = if literal { 1 } else { 3 };
        if width + len > 75 {
            out.push_str("=\r\n");
            width = 0;
        }
        if literal {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "={b:02X}");
        }
        width += len;
    }
    out
}

/// A multipart/alternative message of the newsletter (quoted-printable HTML), its
/// plain-text version and one base64 attachment, with CRLF line breaks.
fn newsletter_message(html: &[u8], text: &[u8]) -> Vec<u8> {
    use base64::Engine as _;
    let attachment: Vec<u8> = (0..6_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let attachment = base64::engine::general_purpose::STANDARD.encode(attachment);
    let attachment: Vec<&str> = attachment
        .as_bytes()
        .chunks(76)
        .map(|line| std::str::from_utf8(line).unwrap())
        .collect();
    format!(
        "From: Shop <news@shop.example.com>\r\nTo: Ada <ada@example.com>\r\nSubject: Winter is here\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"mixed\"\r\n\r\n--mixed\r\n\
Content-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n--alt\r\n\
Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n{}\r\n--alt\r\n\
Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n{}\r\n--alt--\r\n\r\n--mixed\r\n\
Content-Type: application/pdf; name=\"winter.pdf\"\r\nContent-Disposition: attachment; filename=\"winter.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--mixed--\r\n",
        quoted_printable(text),
        quoted_printable(html),
        attachment.join("\r\n")
    )
    .into_bytes()
}

fn message(c: &mut Criterion) {
    let f = fixture();
    let recipient = Recipient::new(NOW).with_pseudonym(&f.pseudonym);
    let message = Message::new(CAMPAIGN, recipient);
    // The decoded bodies, as the message holds them (CRLF line breaks).
    let html = String::from_utf8(f.body.clone())
        .unwrap()
        .replace('\n', "\r\n")
        .into_bytes();
    let text = newsletter_text().replace('\n', "\r\n").into_bytes();
    let raw = newsletter_message(&f.body, newsletter_text().as_bytes());
    let options = MessageOptions::default();
    let once = rewrite_message(&f.tracker, &message, &options, &raw).unwrap();
    eprintln!(
        "message: {} bytes in, {} out\n{once}",
        raw.len(),
        once.message.len()
    );

    let bodies = || {
        let html_out = rewrite_html(&f.tracker, &message, &f.options, black_box(&html)).unwrap();
        let mut text_options = f.options.clone();
        text_options
            .leave_alone
            .extend(html_out.report.left_alone_by_author().map(str::to_owned));
        let text_out = rewrite_text(&f.tracker, &message, &text_options, black_box(&text)).unwrap();
        (html_out, text_out)
    };
    let (html_out, text_out) = bodies();
    assert_eq!(
        (html_out.report.tracked.len(), text_out.report.tracked.len()),
        (tracked_in_part(&once, 1), tracked_in_part(&once, 0)),
        "both sides track the same links"
    );

    // `HASHBEACON_CALLS=rewrite_message:N` (or `rewrite_html_plus_text:N`) makes N calls
    // of one side and exits: under callgrind, N = 11 less N = 1, divided by 10, counts
    // the instructions of one call without the setup's. `alternate:N` times N calls of
    // each side, one after the other, so that both see the same load, and prints the
    // medians.
    if let Ok(calls) = std::env::var("HASHBEACON_CALLS") {
        let (side, n) = calls.split_once(':').expect("HASHBEACON_CALLS=SIDE:N");
        let n = n.parse::<usize>().expect("a number of calls");
        let whole = || {
            drop(black_box(
                rewrite_message(&f.tracker, &message, &options, black_box(&raw)).unwrap(),
            ))
        };
        let parts = || drop(black_box(bodies()));
        let (mut whole_ns, mut parts_ns) = (Vec::new(), Vec::new());
        for _ in 0..n {
            match side {
                "rewrite_message" => whole(),
                "rewrite_html_plus_text" => parts(),
                "alternate" => {
                    let start = std::time::Instant::now();
                    whole();
                    let middle = std::time::Instant::now();
                    parts();
                    whole_ns.push((middle - start).as_nanos());
                    parts_ns.push(middle.elapsed().as_nanos());
                }
                other => panic!("no side {other}"),
            }
        }
        if side == "alternate" {
            whole_ns.sort_unstable();
            parts_ns.sort_unstable();
            let (whole, parts) = (whole_ns[n / 2], parts_ns[n / 2]);
            println!(
                "message/rewrite_message {} µs, message/rewrite_html_plus_text {} µs: {:.2}×",
                whole / 1000,
                parts / 1000,
                whole as f64 / parts as f64
            );
        }
        std::process::exit(0);
    }

    let mut group = c.benchmark_group("message");
    group.throughput(Throughput::Bytes(raw.len() as u64));
    group.bench_function("rewrite_message", |b| {
        b.iter(|| rewrite_message(&f.tracker, &message, &options, black_box(&raw)).unwrap())
    });
    group.bench_function("rewrite_html_plus_text", |b| b.iter(bodies));
    group.finish();
}

criterion_group!(benches, rewrite, render, message);
criterion_main!(benches);

/// How many links a rewritten message's part tracked.
fn tracked_in_part(message: &hashbeacon::message::RewrittenMessage, part: usize) -> usize {
    let report = message.parts.get(part).and_then(|part| part.outcome.report());
    report.map(|report| report.tracked.len()).unwrap_or_default()
}
