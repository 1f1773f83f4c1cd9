//! Deserializing the `&'static str` details a few public types carry (a rejection's
//! detail, a scanner's name, a time bucket's label).
//!
//! Each detail is one of the crate's own strings, so text read back is matched against
//! those and the crate's string is used: nothing is leaked, and a detail this build
//! does not know is an error rather than a guess.

use serde::de::{Deserialize, Deserializer, Error};

/// Every detail a [`crate::VerifyError::Malformed`] or
/// [`crate::VerifyError::NotTracking`] carries. A test checks that the sources hold no
/// other.
pub(crate) const VERIFY_DETAILS: &[&str] = &[
    "campaign id",
    "click URL without destination",
    "clicked-at",
    "destination contains control characters",
    "destination is not UTF-8",
    "destination is not an http(s) URL with an authority",
    "destination wire form is not canonical",
    "expires-at before issued-at",
    "expires-at",
    "field",
    "issued-at",
    "key id",
    "link index",
    "link label",
    "not a reference",
    "only click tokens carry a link",
    "recipient pseudonym",
    "tag has the wrong length",
    "tag is not canonical base64url",
    "too few fields",
    "too many fields",
    "unknown purpose",
    "unsubscribe tokens name a recipient",
    "version and purpose",
    "open URLs end in .gif",
    "path prefix",
    "route",
];

/// The crate's own copy of `text`, if it is one of `known`.
fn known<'de, D: Deserializer<'de>>(
    deserializer: D,
    known: impl IntoIterator<Item = &'static str>,
    what: &str,
) -> Result<&'static str, D::Error> {
    let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
    known
        .into_iter()
        .find(|candidate| *candidate == text)
        .ok_or_else(|| D::Error::custom(format!("unknown {what} `{text}`")))
}

/// A rejection's detail.
pub(crate) fn verify_detail<'de, D: Deserializer<'de>>(deserializer: D) -> Result<&'static str, D::Error> {
    known(deserializer, VERIFY_DETAILS.iter().copied(), "rejection detail")
}

/// The name in a user-agent signal (an HTTP library or a security product).
pub(crate) fn signal_name<'de, D: Deserializer<'de>>(deserializer: D) -> Result<&'static str, D::Error> {
    known(deserializer, crate::classify::signal_names(), "user-agent name")
}

/// A time-to-first bucket's label.
pub(crate) fn time_bucket_label<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<&'static str, D::Error> {
    let labels = crate::report::TIME_BUCKETS.iter().map(|bucket| bucket.label);
    known(deserializer, labels, "time bucket")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The string literals given to `VerifyError::{variant}(` in a source file.
    fn details<'a>(source: &'a str, variant: &str) -> Vec<&'a str> {
        let opening = format!("VerifyError::{variant}(");
        source
            .match_indices(&opening)
            .filter_map(|(at, _)| {
                let rest = source.get(at + opening.len()..)?.trim_start();
                let literal = rest.strip_prefix('"')?;
                literal.get(..literal.find('"')?)
            })
            .collect()
    }

    #[test]
    fn every_rejection_detail_in_the_sources_is_known() {
        let sources = [
            include_str!("token.rs"),
            include_str!("link.rs"),
            include_str!("link/wire.rs"),
            include_str!("conversion.rs"),
            include_str!("endpoint/mod.rs"),
        ];
        let mut found = 0;
        for source in sources {
            for detail in details(source, "Malformed")
                .into_iter()
                .chain(details(source, "NotTracking"))
            {
                assert!(
                    VERIFY_DETAILS.contains(&detail),
                    "`{detail}` is missing from VERIFY_DETAILS"
                );
                found += 1;
            }
        }
        assert!(found > 30, "the scan finds the details ({found})");
    }
}
