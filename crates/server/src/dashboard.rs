//! The campaign dashboard: one self-contained HTML page (no external assets) rendered
//! from a campaign's rollup figures ([`CampaignFigures`]) — headline figures, per-link
//! bars, the human/machine split with its reasons, the time to first click and the
//! trend, as inline SVG. Counts are written whole, with thousands separators.
//!
//! [`render`] is a pure function of its input, so it is tested without a server. The
//! page updates itself: a small inline script fetches the page again every few seconds
//! and swaps in the new report. Every piece of text from the report or the request is
//! HTML-escaped, and [`content_security_policy`]'s script hash allows that one script
//! and nothing else, so even a label that slipped through could not run.

use std::fmt::Write as _;

use base64::Engine as _;
use hashbeacon::event::Link;
use hashbeacon::report::{Granularity, Rate, TIME_BUCKETS};
use hashbeacon_store::{ActivityFigures, CampaignFigures, TrendBucket};
use sha2::{Digest as _, Sha256};

/// Seconds between refreshes of the live page.
pub(crate) const REFRESH_SECONDS: u64 = 5;

/// The page's only script: fetch the page again and swap in the new report.
const SCRIPT: &str = "setInterval(async () => {\
try { const r = await fetch(location.href, {cache: 'no-store'}); if (!r.ok) return;\
 const next = new DOMParser().parseFromString(await r.text(), 'text/html').getElementById('report');\
 if (next) document.getElementById('report').replaceWith(next); } catch (e) {}\
}, 5000);";

/// Colours: people, machines, opens, conversions.
const HUMAN: &str = "#2563eb";
const MACHINE: &str = "#b6bcc6";
const OPENS: &str = "#ea580c";
const CONVERSIONS: &str = "#16a34a";

/// The `Content-Security-Policy` to serve the page with: inline styles, the one
/// script (by its hash), fetches to the same origin, nothing else.
pub(crate) fn content_security_policy() -> String {
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(SCRIPT.as_bytes()));
    format!(
        "default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{hash}'; connect-src 'self'; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
}

/// What one dashboard page shows.
pub(crate) struct Dashboard<'a> {
    /// The campaign id as requested (any text: it is escaped).
    pub(crate) campaign: &'a str,
    /// Its figures, if any event of it was seen.
    pub(crate) report: Option<&'a CampaignFigures>,
    /// Messages delivered, if the host said (for the rates per delivered message).
    pub(crate) delivered: Option<u64>,
    /// Rejected requests of all campaigns (a rejected token names no campaign).
    pub(crate) rejected: u64,
    /// When the page was rendered, unix seconds.
    pub(crate) now: u64,
}

/// Renders the whole page.
pub(crate) fn render(dashboard: &Dashboard<'_>) -> String {
    let mut page = String::with_capacity(16 * 1024);
    let title = escape(dashboard.campaign);
    let _ = write!(
        page,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · hashbeacon</title><style>{STYLE}</style></head><body>\
         <div id=\"report\"><header><h1>Campaign <code>{title}</code></h1>\
         <p class=\"muted\">Updated {} UTC · refreshes every {REFRESH_SECONDS} s</p></header>",
        utc(dashboard.now)
    );
    match dashboard.report {
        None => page.push_str("<p class=\"empty\">No events for this campaign yet.</p>"),
        Some(report) => {
            tiles(&mut page, report, dashboard);
            trend(&mut page, report);
            link_bars(&mut page, report);
            split(&mut page, report);
            time_to_first(&mut page, &report.clicks);
        }
    }
    let _ = writeln!(
        page,
        "<p class=\"muted\">Rejected requests (forged or altered tokens, all campaigns): {}</p>\
         </div><script>{SCRIPT}</script></body></html>",
        whole(dashboard.rejected)
    );
    page
}

const STYLE: &str = "body{font:15px/1.4 system-ui,sans-serif;margin:24px auto;max-width:1100px;\
color:#111827;padding:0 16px}h1{font-size:22px;margin:0}h2{font-size:16px;margin:28px 0 8px}\
code{background:#f3f4f6;padding:1px 6px;border-radius:4px}.muted{color:#6b7280;font-size:13px}\
.tiles{display:flex;flex-wrap:wrap;gap:12px;margin-top:16px}.tile{border:1px solid #e5e7eb;\
border-radius:8px;padding:10px 14px;min-width:140px}.tile b{display:block;font-size:22px}\
.tile span{color:#6b7280;font-size:12px}table{border-collapse:collapse;font-size:13px}\
td,th{padding:3px 10px 3px 0;text-align:left}td.n{text-align:right}svg{display:block;max-width:100%;height:auto}\
svg text{font:12px system-ui,sans-serif;fill:#374151}.key i{display:inline-block;width:10px;height:10px;\
margin:0 4px 0 12px;border-radius:2px}.empty{margin:40px 0;color:#6b7280}";

/// Escapes text for HTML element content and quoted attribute values (and SVG text).
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn tiles(page: &mut String, report: &CampaignFigures, dashboard: &Dashboard<'_>) {
    let (clicks, opens) = (&report.clicks, &report.opens);
    let mut tiles = vec![
        tile("Clicks", clicks.total(), &split_note(clicks)),
        tile("Unique clickers", clicks.unique_human, "people, by pseudonym"),
        tile(
            "Opens",
            opens.total(),
            &format!(
                "{} · {} implied by clicks",
                split_note(opens),
                whole(opens.implied)
            ),
        ),
        tile("Unique openers", opens.unique_human, "people, by pseudonym"),
        tile_rate(
            "Click-to-open",
            report.click_to_open_rate(),
            "clickers per opener",
        ),
        tile(
            "Conversions",
            report.conversions.total(),
            "reported by the landing site",
        ),
        tile_rate(
            "Conversion rate",
            report.conversion_rate(),
            "converters per clicker",
        ),
        tile(
            "Unsubscribes",
            report.unsubscribes.unique,
            &format!(
                "recipients · {} one-click POSTs",
                whole(report.unsubscribes.total())
            ),
        ),
    ];
    if let Some(delivered) = dashboard.delivered {
        tiles.push(tile_rate(
            "Click-through",
            report.click_through_rate(delivered),
            &format!("clickers per {} delivered", whole(delivered)),
        ));
        tiles.push(tile_rate(
            "Open rate",
            report.open_rate(delivered),
            &format!("openers per {} delivered", whole(delivered)),
        ));
        tiles.push(tile_rate(
            "Unsubscribe rate",
            report.unsubscribe_rate(delivered),
            &format!("unsubscribed per {} delivered", whole(delivered)),
        ));
    }
    page.push_str("<section class=\"tiles\">");
    for tile in tiles {
        page.push_str(&tile);
    }
    page.push_str("</section>");
}

fn tile(name: &str, value: u64, note: &str) -> String {
    format!(
        "<div class=\"tile\"><span>{}</span><b>{}</b><span>{}</span></div>",
        escape(name),
        whole(value),
        escape(note)
    )
}

fn tile_rate(name: &str, rate: Rate, note: &str) -> String {
    format!(
        "<div class=\"tile\"><span>{}</span><b>{rate}</b><span>{}</span></div>",
        escape(name),
        escape(note)
    )
}

fn split_note(activity: &ActivityFigures) -> String {
    format!(
        "{} human · {} machine",
        whole(activity.human),
        whole(activity.machine)
    )
}

/// A count written whole, with thousands separators: `924033` → `924,033`.
pub(crate) fn whole(count: u64) -> String {
    let digits = count.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (at, digit) in digits.chars().enumerate() {
        if at > 0 && (digits.len() - at).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

fn legend(page: &mut String, entries: &[(&str, &str)]) {
    page.push_str("<p class=\"key muted\">");
    for (colour, name) in entries {
        let _ = write!(page, "<i style=\"background:{colour}\"></i>{}", escape(name));
    }
    page.push_str("</p>");
}

/// Per-link horizontal bars: human and machine clicks stacked, conversions beside.
fn link_bars(page: &mut String, report: &CampaignFigures) {
    let links = &report.links;
    page.push_str("<h2>Clicks per link</h2>");
    legend(
        page,
        &[
            (HUMAN, "human"),
            (MACHINE, "machine"),
            (CONVERSIONS, "conversions"),
        ],
    );
    const ROW: u64 = 26;
    const LABEL: u64 = 180;
    const BAR: u64 = 400;
    // The notes start in one column past the longest bar, with room for
    // "9,999,999,999 human · 9,999,999,999 machine · 9,999,999,999 conv.".
    const NOTE: u64 = 480;
    let most = links
        .iter()
        .map(|link| link.clicks.total())
        .max()
        .unwrap_or(0)
        .max(1);
    let height = ROW * links.len() as u64 + 4;
    let _ = write!(
        page,
        "<svg role=\"img\" aria-label=\"clicks per link\" width=\"{}\" height=\"{height}\" \
         viewBox=\"0 0 {} {height}\">",
        LABEL + BAR + NOTE,
        LABEL + BAR + NOTE
    );
    for (row, link) in links.iter().enumerate() {
        let y = row as u64 * ROW;
        let clicks = &link.clicks;
        let human = scaled(clicks.human, BAR, most);
        let machine = scaled(clicks.machine, BAR, most);
        let name = match &link.link {
            Some(Link::Index(index)) => format!("link {index}"),
            Some(Link::Label(label)) => label.to_string(),
            None => "(no link id)".to_owned(),
        };
        let _ = write!(
            page,
            "<text x=\"0\" y=\"{}\"><title>{name}</title>{short}</text>\
             <rect x=\"{LABEL}\" y=\"{}\" width=\"{human}\" height=\"18\" fill=\"{HUMAN}\"/>\
             <rect x=\"{}\" y=\"{}\" width=\"{machine}\" height=\"18\" fill=\"{MACHINE}\"/>\
             <text x=\"{}\" y=\"{}\">{} human · {} machine · \
             <tspan fill=\"{CONVERSIONS}\">{} conv.</tspan></text>",
            y + 16,
            y + 3,
            LABEL + human,
            y + 3,
            LABEL + BAR + 6,
            y + 16,
            whole(clicks.human),
            whole(clicks.machine),
            whole(link.conversions.total()),
            name = escape(&name),
            short = escape(&shorten(&name, 22)),
        );
    }
    page.push_str("</svg>");
}

/// Cuts a label to `most` characters, marking the cut.
fn shorten(text: &str, most: usize) -> String {
    if text.chars().count() <= most {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(most - 1).collect();
    short.push('…');
    short
}

/// The human/machine split of clicks and opens as 100 % bars, with the reasons.
fn split(page: &mut String, report: &CampaignFigures) {
    page.push_str("<h2>Human and machine</h2>");
    legend(page, &[(HUMAN, "human"), (MACHINE, "machine")]);
    const WIDTH: u64 = 600;
    // Room for "100.0% human of 9,999,999,999".
    const NOTE: u64 = 300;
    let _ = write!(
        page,
        "<svg role=\"img\" aria-label=\"human and machine split\" width=\"{}\" height=\"56\" \
         viewBox=\"0 0 {} 56\">",
        WIDTH + 70 + NOTE,
        WIDTH + 70 + NOTE
    );
    for (row, (name, activity)) in [("clicks", &report.clicks), ("opens", &report.opens)]
        .into_iter()
        .enumerate()
    {
        let y = row as u64 * 28;
        let total = activity.total();
        let human = scaled(activity.human, WIDTH, total);
        let machine = if total == 0 { 0 } else { WIDTH - human };
        let share = Rate {
            numerator: activity.human,
            denominator: total,
        };
        let _ = write!(
            page,
            "<text x=\"0\" y=\"{}\">{name}</text>\
             <rect x=\"60\" y=\"{}\" width=\"{human}\" height=\"18\" fill=\"{HUMAN}\"/>\
             <rect x=\"{}\" y=\"{}\" width=\"{machine}\" height=\"18\" fill=\"{MACHINE}\"/>\
             <text x=\"{}\" y=\"{}\">{share} human of {}</text>",
            y + 16,
            y + 3,
            60 + human,
            y + 3,
            WIDTH + 70,
            y + 16,
            whole(total),
        );
    }
    page.push_str("</svg><table><tr><th>Reason</th><th>Clicks</th><th>Opens</th></tr>");
    let mut reasons: Vec<(&str, u64, u64)> = Vec::new();
    for (reason, count) in &report.clicks.reasons {
        reasons.push((reason, *count, 0));
    }
    for (reason, count) in &report.opens.reasons {
        match reasons.iter_mut().find(|(known, _, _)| *known == reason) {
            Some(row) => row.2 = *count,
            None => reasons.push((reason, 0, *count)),
        }
    }
    for (reason, clicks, opens) in reasons {
        let _ = write!(
            page,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            escape(reason),
            whole(clicks),
            whole(opens),
        );
    }
    page.push_str("</table>");
}

/// The trend as bars (human clicks over machine clicks) and lines (human opens,
/// conversions), by hour — or by day once the campaign spans more than three days.
fn trend(page: &mut String, report: &CampaignFigures) {
    let hourly = report.trend(Granularity::Hour);
    let span = match (hourly.first(), hourly.last()) {
        (Some(first), Some(last)) => last.start - first.start,
        _ => 0,
    };
    let granularity = if span > 3 * 86_400 {
        Granularity::Day
    } else {
        Granularity::Hour
    };
    let points = report.trend(granularity);
    let step = granularity.seconds();
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return;
    };
    // Show at most the latest 120 buckets.
    let start = first.start.max(last.start.saturating_sub(119 * step));
    let buckets = (last.start - start) / step + 1;
    const WIDTH: u64 = 1060;
    const HEIGHT: u64 = 160;
    const LABEL_ROOM: u64 = 20;
    let most = points
        .iter()
        .map(|p| p.clicks.total().max(p.opens.human).max(p.conversions))
        .max()
        .unwrap_or(0)
        .max(1);
    let slot = WIDTH / buckets;
    // The tallest bar or point stays below the label of the scale, at the top left.
    let scale = |n: u64| scaled(n, HEIGHT - LABEL_ROOM, most);
    let _ = write!(
        page,
        "<h2>Trend by {}</h2>",
        if granularity == Granularity::Day {
            "day"
        } else {
            "hour"
        }
    );
    legend(
        page,
        &[
            (HUMAN, "human clicks"),
            (MACHINE, "machine clicks"),
            (OPENS, "human opens"),
            (CONVERSIONS, "conversions"),
        ],
    );
    let _ = write!(
        page,
        "<svg role=\"img\" aria-label=\"trend\" width=\"{WIDTH}\" height=\"{}\" viewBox=\"0 0 {WIDTH} {}\">\
         <line x1=\"0\" y1=\"{HEIGHT}\" x2=\"{WIDTH}\" y2=\"{HEIGHT}\" stroke=\"#d1d5db\"/>",
        HEIGHT + 22,
        HEIGHT + 22
    );
    let shown: Vec<&TrendBucket> = points.iter().filter(|p| p.start >= start).collect();
    let x_of = |p: &TrendBucket| (p.start - start) / step * slot;
    let bar = slot.saturating_sub(2).max(1);
    for point in &shown {
        let (human, machine) = (scale(point.clicks.human), scale(point.clicks.machine));
        let x = x_of(point);
        let _ = write!(
            page,
            "<rect x=\"{x}\" y=\"{}\" width=\"{bar}\" height=\"{human}\" fill=\"{HUMAN}\"/>\
             <rect x=\"{x}\" y=\"{}\" width=\"{bar}\" height=\"{machine}\" fill=\"{MACHINE}\"/>",
            HEIGHT - human,
            HEIGHT - human - machine,
        );
    }
    for (colour, value) in [
        (
            OPENS,
            (|p: &TrendBucket| p.opens.human) as fn(&TrendBucket) -> u64,
        ),
        (CONVERSIONS, |p: &TrendBucket| p.conversions),
    ] {
        let line: Vec<String> = shown
            .iter()
            .map(|p| format!("{},{}", x_of(p) + bar / 2, HEIGHT - scale(value(p))))
            .collect();
        let _ = write!(
            page,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"/>",
            line.join(" ")
        );
    }
    let _ = write!(
        page,
        "<text x=\"0\" y=\"{}\">{}</text><text x=\"{WIDTH}\" y=\"{}\" text-anchor=\"end\">{}</text>\
         <text x=\"4\" y=\"12\">{}</text></svg>",
        HEIGHT + 16,
        utc(start),
        HEIGHT + 16,
        utc(last.start),
        whole(most),
    );
}

/// Time from sending to each recipient's first human click, in the report's buckets.
fn time_to_first(page: &mut String, clicks: &ActivityFigures) {
    let distribution = &clicks.time_to_first;
    page.push_str("<h2>Time to first click</h2>");
    const SLOT: u64 = 110;
    const HEIGHT: u64 = 110;
    let most = distribution.iter().copied().max().unwrap_or(0).max(1);
    let width = SLOT * distribution.len() as u64;
    let _ = write!(
        page,
        "<svg role=\"img\" aria-label=\"time to first click\" width=\"{width}\" height=\"{}\" \
         viewBox=\"0 0 {width} {}\">",
        HEIGHT + 36,
        HEIGHT + 36
    );
    for (at, (bucket, &count)) in TIME_BUCKETS.iter().zip(distribution).enumerate() {
        let x = at as u64 * SLOT;
        let height = scaled(count, HEIGHT - 16, most);
        let _ = write!(
            page,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{height}\" fill=\"{HUMAN}\"/>\
             <text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\
             <text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            x + 8,
            HEIGHT - height,
            SLOT - 16,
            x + SLOT / 2,
            HEIGHT - height - 4,
            whole(count),
            x + SLOT / 2,
            HEIGHT + 18,
            escape(bucket.label),
        );
    }
    page.push_str("</svg>");
}

/// `count` of `most` as a length of `full` pixels, without overflow at any count.
fn scaled(count: u64, full: u64, most: u64) -> u64 {
    let length = u128::from(count) * u128::from(full) / u128::from(most.max(1));
    u64::try_from(length).unwrap_or(full)
}

/// `YYYY-MM-DD HH:MM` in UTC, from unix seconds (days to civil date: H. Hinnant's
/// algorithm, exact for the proleptic Gregorian calendar).
fn utc(unix: u64) -> String {
    let days = unix / 86_400;
    let (hour, minute) = (unix % 86_400 / 3_600, unix % 3_600 / 60);
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use hashbeacon::LinkId;
    use hashbeacon::report::{Action, CampaignReport, Record, Report};

    const SENT: u64 = 1_767_225_600;

    fn record<'a>(action: Action, link: Option<LinkId<'a>>, recipient: &'a str, at: u64) -> Record<'a> {
        Record {
            action,
            campaign: "launch",
            link,
            recipient: Some(recipient),
            at,
            since: SENT,
            person: true,
            reason: "human",
        }
    }

    fn report(label: &'static str) -> Report {
        let records = [
            record(
                Action::Click,
                Some(LinkId::Index(0)),
                "AAAAAAAAAAAAAAAA",
                SENT + 600,
            ),
            record(
                Action::Click,
                Some(LinkId::Label(label)),
                "BBBBBBBBBBBBBBBB",
                SENT + 5 * 3_600,
            ),
            Record {
                person: false,
                reason: "scanner: <b>HEAD</b> request",
                ..record(
                    Action::Click,
                    Some(LinkId::Index(0)),
                    "CCCCCCCCCCCCCCCC",
                    SENT + 1,
                )
            },
            record(Action::Open, None, "AAAAAAAAAAAAAAAA", SENT + 300),
            // The same recipient's one-click POST, twice: one unsubscribe.
            record(Action::Unsubscribe, None, "BBBBBBBBBBBBBBBB", SENT + 7_200),
            record(Action::Unsubscribe, None, "BBBBBBBBBBBBBBBB", SENT + 7_260),
        ];
        records.iter().collect()
    }

    fn page(campaign: &str, report: Option<&CampaignReport>) -> String {
        let figures = report.map(CampaignFigures::from_report);
        render(&Dashboard {
            campaign,
            report: figures.as_ref(),
            delivered: Some(10),
            rejected: 2,
            now: SENT + 86_400,
        })
    }

    #[test]
    fn counts_are_written_whole_with_separators() {
        let cases = [(0, "0"), (999, "999"), (1_000, "1,000"), (924_033, "924,033")];
        for (count, text) in cases {
            assert_eq!(whole(count), text);
        }
        assert_eq!(whole(u64::MAX), "18,446,744,073,709,551,615");
    }

    #[test]
    fn large_figures_show_whole_and_fit_their_drawing() {
        let mut figures = CampaignFigures::default();
        figures.clicks.human = 9_240_330;
        figures.clicks.machine = 1_234_567;
        figures.opens.human = u64::MAX / 4;
        let html = render(&Dashboard {
            campaign: "big",
            report: Some(&figures),
            delivered: None,
            rejected: 0,
            now: SENT,
        });
        assert!(html.contains("<b>10,474,897</b>"), "the clicks tile");
        assert!(html.contains("88.2% human of 10,474,897"));
        assert!(html.contains(&format!("100.0% human of {}", whole(u64::MAX / 4))));
        // The split's note starts at x = 670 in a drawing 970 wide.
        assert!(html.contains("width=\"970\""));
    }

    /// A generous estimate of how wide `text` is drawn at the SVG's 12 px: per-glyph
    /// widths of DejaVu Sans (what `system-ui` falls back to on a bare Linux), the
    /// widest common sans-serif, rounded up.
    fn drawn_width(text: &str) -> f64 {
        let em: f64 = text
            .chars()
            .map(|c| match c {
                '0'..='9' => 0.64,
                ',' | '.' | ' ' | '·' | ':' | 'i' | 'l' | 'j' => 0.33,
                'f' | 't' | 'r' | '(' | ')' => 0.42,
                'm' | 'w' => 0.98,
                '%' | '…' => 0.95,
                'A'..='Z' => 0.78,
                _ => 0.64,
            })
            .sum();
        em * 12.0
    }

    /// Every SVG text of the page, with its drawing's width, its x, its anchor and what
    /// it shows (tooltips and tags left out).
    fn svg_texts(html: &str) -> Vec<(f64, f64, String, String)> {
        let number = |tag: &str, name: &str| -> Option<String> {
            let at = tag.find(&format!(" {name}=\""))? + name.len() + 3;
            Some(tag[at..].split('"').next()?.to_owned())
        };
        let mut texts = Vec::new();
        for svg in html.split("<svg").skip(1) {
            let svg = &svg[..svg.find("</svg>").unwrap()];
            let view_box = number(svg, "viewBox").unwrap();
            let width: f64 = view_box.split(' ').nth(2).unwrap().parse().unwrap();
            for text in svg.split("<text").skip(1) {
                let (tag, rest) = text.split_once('>').unwrap();
                let body = &rest[..rest.find("</text>").unwrap()];
                let body = match body.find("</title>") {
                    Some(end) => &body[end + "</title>".len()..],
                    None => body,
                };
                let mut shown = String::new();
                let mut in_tag = false;
                for c in body.chars() {
                    match c {
                        '<' => in_tag = true,
                        '>' => in_tag = false,
                        c if !in_tag => shown.push(c),
                        _ => {}
                    }
                }
                let x: f64 = number(tag, "x").unwrap().parse().unwrap();
                let anchor = number(tag, "text-anchor").unwrap_or_else(|| "start".to_owned());
                texts.push((width, x, anchor, shown.replace("&amp;", "&")));
            }
        }
        texts
    }

    /// Ten-digit counts in every figure the page draws.
    fn ten_digit_figures() -> CampaignFigures {
        let activity = |human: u64, machine: u64| {
            let mut activity = ActivityFigures::default();
            activity.human = human;
            activity.machine = machine;
            activity.unique = human / 3;
            activity.unique_human = human / 4;
            activity.implied = machine / 2;
            activity.reasons = vec![
                ("human".to_owned(), human),
                ("scanner: HEAD request".to_owned(), machine),
            ];
            activity.time_to_first = [human / 7; TIME_BUCKETS.len()];
            activity.hours = (0..48)
                .map(|hour| {
                    let split = hashbeacon::report::Split {
                        human: human / 48,
                        machine: machine / 48,
                    };
                    (SENT + hour * 3_600, split)
                })
                .collect();
            activity
        };
        let mut figures = CampaignFigures::default();
        figures.clicks = activity(9_876_543_210, 8_765_432_109);
        figures.opens = activity(7_654_321_098, 6_543_210_987);
        figures.conversions = activity(5_432_109_876, 0);
        figures.unsubscribes = activity(4_321_098_765, 1_234_567_890);
        figures.links = [
            Some(Link::Index(0)),
            Some(Link::Label("a-label-long-enough-to-be-cut-short".into())),
        ]
        .into_iter()
        .map(|link| {
            let mut figures = hashbeacon_store::LinkFigures::default();
            figures.link = link;
            figures.clicks = activity(9_876_543_210, 8_765_432_109);
            figures.conversions = activity(9_999_999_999, 0);
            figures
        })
        .collect();
        figures
    }

    #[test]
    fn ten_digit_counts_are_written_whole_and_drawn_inside_their_svg() {
        let figures = ten_digit_figures();
        let html = render(&Dashboard {
            campaign: "big",
            report: Some(&figures),
            delivered: Some(9_999_999_999),
            rejected: 9_999_999_999,
            now: SENT + 2 * 86_400,
        });
        for whole_figure in [
            "<b>18,641,975,319</b>",                       // clicks
            "9,876,543,210 human · 8,765,432,109 machine", // its note
            "<b>2,469,135,802</b>",                        // unique clickers
            "<b>14,197,532,085</b>",                       // opens
            "3,271,605,493 implied by clicks",
            "<b>5,432,109,876</b>",                           // conversions
            "9,876,543,210 human · 8,765,432,109 machine · ", // per link, then
            ">9,999,999,999 conv.</tspan>",
            "53.0% human of 18,641,975,319",
            "53.9% human of 14,197,532,085",
            "<td class=\"n\">9,876,543,210</td><td class=\"n\">7,654,321,098</td>",
            ">1,410,934,744<", // the time to first click, per bucket
            "recipients · 5,555,666,655 one-click POSTs",
            "clickers per 9,999,999,999 delivered",
            "all campaigns): 9,999,999,999",
        ] {
            assert!(html.contains(whole_figure), "{whole_figure} missing");
        }
        // Nothing of the trend is drawn over its scale's label (baseline y = 12).
        let trend = html.split("aria-label=\"trend\"").nth(1).unwrap();
        let trend = &trend[..trend.find("</svg>").unwrap()];
        for rect in trend.split("<rect").skip(1) {
            let y: u64 = rect
                .split("y=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            assert!(y >= 16, "a bar reaches y = {y}");
        }
        for points in trend.split("points=\"").skip(1) {
            for point in points.split('"').next().unwrap().split(' ') {
                let y: u64 = point.split(',').nth(1).unwrap().parse().unwrap();
                assert!(y >= 16, "a line reaches y = {y}");
            }
        }
        let texts = svg_texts(&html);
        assert!(texts.len() > 20, "{texts:?}");
        for (width, x, anchor, shown) in texts {
            let drawn = drawn_width(&shown);
            let (left, right) = match anchor.as_str() {
                "middle" => (x - drawn / 2.0, x + drawn / 2.0),
                "end" => (x - drawn, x),
                _ => (x, x + drawn),
            };
            assert!(
                left >= 0.0 && right <= width,
                "{shown:?} drawn from {left:.0} to {right:.0}, outside its drawing 0–{width}"
            );
        }
    }

    #[test]
    fn labels_and_ids_are_escaped() {
        let report = report("<script>alert(1)</script>");
        let html = page("<script>x</script>\"'&", report.campaign("launch"));
        assert_eq!(html.matches("<script").count(), 1, "only the page's own script");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("<code>&lt;script&gt;x&lt;/script&gt;&quot;&#39;&amp;</code>"));
        assert!(html.contains("scanner: &lt;b&gt;HEAD&lt;/b&gt; request"));
        assert!(!html.contains("<b>HEAD"));
    }

    #[test]
    fn shows_the_figures_as_inline_svg_without_external_assets() {
        let report = report("cta");
        let html = page("launch", report.campaign("launch"));
        for needle in [
            "link 0",
            ">cta<",
            "Clicks per link",
            "Trend by hour",
            "Time to first click",
            "<b>20.0%</b>",  // click-through: 2 clickers of 10 delivered
            "<b>200.0%</b>", // click-to-open: 2 clickers, 1 opener
            "2 human · 1 machine",
            "recipients · 2 one-click POSTs",
            "<b>10.0%</b>", // unsubscribe rate: 1 recipient of 10 delivered
            "Rejected requests (forged or altered tokens, all campaigns): 2",
            "Updated 2026-01-02 00:00 UTC",
        ] {
            assert!(html.contains(needle), "{needle} missing");
        }
        assert_eq!(html.matches("<svg").count(), 4);
        for external in ["src=", "href=", "@import", "url("] {
            assert!(!html.contains(external), "{external} found");
        }
    }

    #[test]
    fn an_unknown_campaign_renders_an_empty_page() {
        let html = page("nothing-yet", None);
        assert!(html.contains("No events for this campaign yet."));
        assert!(!html.contains("<svg"));
    }

    #[test]
    fn the_policy_allows_exactly_the_pages_script() {
        let policy = content_security_policy();
        let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(SCRIPT.as_bytes()));
        assert!(policy.contains(&format!("script-src 'sha256-{hash}'")));
        assert!(policy.starts_with("default-src 'none'"));
        assert!(page("launch", None).contains(&format!("<script>{SCRIPT}</script>")));
    }

    #[test]
    fn dates_are_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00");
        assert_eq!(utc(SENT + 3_600 + 120), "2026-01-01 01:02");
        assert_eq!(utc(4_102_444_799), "2099-12-31 23:59");
    }
}
