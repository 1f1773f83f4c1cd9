//! The body of a one-click unsubscribe (RFC 8058 §3.1): the form field
//! `List-Unsubscribe=One-Click`, as `application/x-www-form-urlencoded` or as
//! `multipart/form-data` (mailbox providers send either).
//!
//! The endpoint bounds the body first ([`super::MAX_BODY_LEN`]); both forms are then
//! scanned in place.

use memchr::memmem;

/// The form field's name.
const FIELD: &str = "List-Unsubscribe";
/// The form field's value.
const VALUE: &str = "One-Click";

/// Whether a body, sent with a content type, says `List-Unsubscribe=One-Click`.
///
/// Other fields may come with it (RFC 8058 says the body *contains* the pair). A body
/// without a content type is read as a URL-encoded form, as a browser sends one.
pub(crate) fn is_one_click(content_type: Option<&str>, body: &[u8]) -> bool {
    let media = MediaType::parse(content_type.unwrap_or("application/x-www-form-urlencoded"));
    if media.is("application/x-www-form-urlencoded") {
        form_has_one_click(body)
    } else if media.is("multipart/form-data") {
        media
            .parameter("boundary")
            .is_some_and(|boundary| multipart_has_one_click(body, boundary))
    } else {
        false
    }
}

/// A URL-encoded form holding the pair, names and values form-decoded. Surrounding
/// whitespace (a trailing newline some clients add) is ignored.
fn form_has_one_click(body: &[u8]) -> bool {
    url::form_urlencoded::parse(body.trim_ascii()).any(|(name, value)| name == FIELD && value == VALUE)
}

/// A multipart form (RFC 7578) with a part named `List-Unsubscribe` whose content is
/// `One-Click`.
fn multipart_has_one_click(body: &[u8], boundary: &str) -> bool {
    // RFC 2046 §5.1.1: 1 to 70 characters.
    if boundary.is_empty() || boundary.len() > 70 {
        return false;
    }
    let mut delimiter = Vec::with_capacity(boundary.len() + 2);
    delimiter.extend_from_slice(b"--");
    delimiter.extend_from_slice(boundary.as_bytes());
    let mut starts = memmem::find_iter(body, &delimiter).peekable();
    while let (Some(start), Some(&next)) = (starts.next(), starts.peek()) {
        if part_is_one_click(body.get(start + delimiter.len()..next).unwrap_or_default()) {
            return true;
        }
    }
    false
}

/// One part between two delimiters: the rest of the delimiter line, headers, a blank
/// line, the content, and the line break that belongs to the next delimiter.
fn part_is_one_click(part: &[u8]) -> bool {
    // The delimiter line may carry transport padding (spaces) before its line break.
    let Some(part) = after_line_break(part) else {
        return false;
    };
    let content = part
        .strip_suffix(b"\r\n")
        .or_else(|| part.strip_suffix(b"\n"))
        .unwrap_or(part);
    let (headers, content) = match memmem::find(content, b"\r\n\r\n") {
        Some(at) => (content.get(..at), content.get(at + 4..)),
        None => match memmem::find(content, b"\n\n") {
            Some(at) => (content.get(..at), content.get(at + 2..)),
            None => return false,
        },
    };
    let (Some(headers), Some(content)) = (headers, content) else {
        return false;
    };
    content == VALUE.as_bytes() && names_the_field(headers)
}

/// The bytes after the first line break, if there is one.
fn after_line_break(bytes: &[u8]) -> Option<&[u8]> {
    let at = memchr::memchr(b'\n', bytes)?;
    bytes.get(at + 1..)
}

/// Whether a part's headers say `Content-Disposition: form-data; name="List-Unsubscribe"`.
fn names_the_field(headers: &[u8]) -> bool {
    headers.split(|&b| b == b'\n').any(|line| {
        let Ok(line) = std::str::from_utf8(line.trim_ascii()) else {
            return false;
        };
        let Some((name, value)) = line.split_once(':') else {
            return false;
        };
        let disposition = MediaType::parse(value);
        name.trim().eq_ignore_ascii_case("content-disposition")
            && disposition.is("form-data")
            && disposition.parameter("name") == Some(FIELD)
    })
}

/// A header value of the form `type; name=value; name="quoted value"`, read lazily.
struct MediaType<'a> {
    essence: &'a str,
    parameters: &'a str,
}

impl<'a> MediaType<'a> {
    fn parse(value: &'a str) -> Self {
        let (essence, parameters) = value.split_once(';').unwrap_or((value, ""));
        Self {
            essence: essence.trim(),
            parameters,
        }
    }

    /// Whether the type is `name`, in any case.
    fn is(&self, name: &str) -> bool {
        self.essence.eq_ignore_ascii_case(name)
    }

    /// A parameter's value by case-insensitive name, unquoted. Quoted values holding
    /// `;` or backslash escapes are not needed here and do not match.
    fn parameter(&self, name: &str) -> Option<&'a str> {
        self.parameters.split(';').find_map(|parameter| {
            let (key, value) = parameter.split_once('=')?;
            if !key.trim().eq_ignore_ascii_case(name) {
                return None;
            }
            let value = value.trim();
            match value.strip_prefix('"') {
                Some(quoted) => quoted
                    .strip_suffix('"')
                    .filter(|inner| !inner.contains(['"', '\\'])),
                None => Some(value),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

    #[test]
    fn url_encoded_forms() {
        for body in [
            &b"List-Unsubscribe=One-Click"[..],
            b"List-Unsubscribe=One-Click\r\n",
            b"a=1&List-Unsubscribe=One-Click",
            b"List%2DUnsubscribe=One%2DClick",
        ] {
            assert!(is_one_click(FORM, body), "{}", String::from_utf8_lossy(body));
            assert!(is_one_click(None, body));
            assert!(is_one_click(
                Some("Application/X-WWW-Form-URLEncoded; charset=UTF-8"),
                body
            ));
        }
        for body in [
            &b""[..],
            b"List-Unsubscribe=one-click",
            b"list-unsubscribe=One-Click",
            b"List-Unsubscribe=One-Click2",
            b"List-Unsubscribe",
            b"List-Unsubscribe=",
            b"One-Click",
            b"List-Unsubscribe=One+Click",
        ] {
            assert!(!is_one_click(FORM, body), "{}", String::from_utf8_lossy(body));
        }
        assert!(!is_one_click(Some("text/plain"), b"List-Unsubscribe=One-Click"));
        assert!(!is_one_click(
            Some("application/json"),
            b"List-Unsubscribe=One-Click"
        ));
    }

    fn multipart(boundary: &str, name: &str, value: &str, newline: &str) -> Vec<u8> {
        format!(
            "--{boundary}{newline}Content-Disposition: form-data; name=\"{name}\"{newline}{newline}{value}{newline}--{boundary}--{newline}"
        )
        .into_bytes()
    }

    #[test]
    fn multipart_forms() {
        let content_type = "multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW";
        let boundary = "----WebKitFormBoundary7MA4YWxkTrZu0gW";
        let body = multipart(boundary, FIELD, VALUE, "\r\n");
        assert!(is_one_click(Some(content_type), &body));
        assert!(is_one_click(
            Some("Multipart/Form-Data; charset=utf-8; boundary=\"----WebKitFormBoundary7MA4YWxkTrZu0gW\""),
            &body
        ));
        assert!(is_one_click(
            Some(content_type),
            &multipart(boundary, FIELD, VALUE, "\n")
        ));
        let two_parts = "preamble\r\n--b\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n--b  \r\n\
             content-disposition: form-data; name=List-Unsubscribe\r\nContent-Type: text/plain\r\n\r\nOne-Click\r\n--b--\r\n";
        assert!(is_one_click(
            Some("multipart/form-data; boundary=b"),
            two_parts.as_bytes()
        ));

        for (content_type, body) in [
            (content_type, multipart(boundary, FIELD, "one-click", "\r\n")),
            (
                content_type,
                multipart(boundary, "List-Unsubscribe2", VALUE, "\r\n"),
            ),
            (content_type, multipart("other", FIELD, VALUE, "\r\n")),
            ("multipart/form-data", multipart(boundary, FIELD, VALUE, "\r\n")),
            (
                "multipart/form-data; boundary=",
                multipart("", FIELD, VALUE, "\r\n"),
            ),
            (
                "multipart/mixed; boundary=b",
                multipart("b", FIELD, VALUE, "\r\n"),
            ),
            // No closing delimiter: the part never ends.
            (
                "multipart/form-data; boundary=b",
                b"--b\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click".to_vec(),
            ),
            (
                "multipart/form-data; boundary=b",
                b"--b\r\n\r\nOne-Click\r\n--b--".to_vec(),
            ),
        ] {
            assert!(
                !is_one_click(Some(content_type), &body),
                "{content_type} {}",
                String::from_utf8_lossy(&body)
            );
        }
        let long = "b".repeat(71);
        let body = multipart(&long, FIELD, VALUE, "\r\n");
        assert!(!is_one_click(
            Some(&format!("multipart/form-data; boundary={long}")),
            &body
        ));
    }
}
