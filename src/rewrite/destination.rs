//! From an href as written to the destination that is signed.

use std::borrow::Cow;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::Utm;

/// What a browser does to an href before resolving it: leading and trailing ASCII
/// whitespace (and C0 controls) go, and so do tabs and newlines anywhere inside.
pub(crate) fn normalize_href(href: &str) -> Cow<'_, str> {
    let trimmed = href.trim_matches(|c: char| c <= ' ');
    if trimmed.contains(['\t', '\n', '\r']) {
        Cow::Owned(
            trimmed
                .chars()
                .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
                .collect(),
        )
    } else {
        Cow::Borrowed(trimmed)
    }
}

/// Bytes escaped in a UTM value: all but RFC 3986's unreserved characters.
const UTM_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Appends the UTM parameters the destination lacks, before any `#fragment`. Parameters
/// the author set (any case) are never touched.
pub(crate) fn tag_utm<'d>(destination: &'d str, utm: &Utm, campaign: &str) -> Cow<'d, str> {
    let (before_fragment, fragment) = match destination.find('#') {
        Some(at) => destination.split_at(at),
        None => (destination, ""),
    };
    let query = before_fragment.split_once('?').map(|(_, query)| query);
    let has = |key: &str| {
        query.is_some_and(|query| {
            query.split('&').any(|pair| {
                pair.split('=')
                    .next()
                    .is_some_and(|k| k.eq_ignore_ascii_case(key))
            })
        })
    };
    let wanted = [
        ("utm_source", utm.source.as_str()),
        ("utm_medium", utm.medium.as_str()),
        ("utm_campaign", utm.campaign.as_deref().unwrap_or(campaign)),
    ];
    let mut missing = wanted.iter().filter(|(key, _)| !has(key)).peekable();
    if missing.peek().is_none() {
        return Cow::Borrowed(destination);
    }
    let mut out = String::with_capacity(destination.len() + 80);
    out.push_str(before_fragment);
    match query {
        None => out.push('?'),
        Some(query) if !query.is_empty() && !query.ends_with('&') => out.push('&'),
        Some(_) => {}
    }
    for (index, (key, value)) in missing.enumerate() {
        if index > 0 {
            out.push('&');
        }
        out.push_str(key);
        out.push('=');
        out.extend(utf8_percent_encode(value, UTM_VALUE));
    }
    out.push_str(fragment);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_like_a_browser() {
        assert_eq!(
            normalize_href("  https://a.example/x\n y\t\r "),
            "https://a.example/x y"
        );
        assert_eq!(normalize_href("https://a.example/"), "https://a.example/");
    }

    #[test]
    fn tags_before_the_fragment_without_overwriting() {
        let utm = Utm::new("news letter");
        assert_eq!(
            tag_utm("https://a.example/p#top", &utm, "spring"),
            "https://a.example/p?utm_source=news%20letter&utm_medium=email&utm_campaign=spring#top"
        );
        assert_eq!(
            tag_utm("https://a.example/p?q=1&UTM_SOURCE=mine#f?g", &utm, "spring"),
            "https://a.example/p?q=1&UTM_SOURCE=mine&utm_medium=email&utm_campaign=spring#f?g"
        );
        assert_eq!(
            tag_utm("https://a.example/p?", &utm, "spring"),
            "https://a.example/p?utm_source=news%20letter&utm_medium=email&utm_campaign=spring"
        );
        let full = "https://a.example/?utm_source=a&utm_medium=b&utm_campaign=c";
        assert!(matches!(tag_utm(full, &utm, "spring"), Cow::Borrowed(_)));
    }
}
