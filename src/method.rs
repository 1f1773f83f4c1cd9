//! The request method, as plain data: below the classifier, the event and the
//! endpoint, which all speak of it.

/// The methods the endpoint answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "UPPERCASE"))]
pub enum Method {
    /// `GET`: a browser following a link or loading an image.
    Get,
    /// `HEAD`: same headers, no body; always a machine.
    Head,
    /// `POST`: a one-click unsubscribe (RFC 8058). Only unsubscribe URLs accept it.
    Post,
}

impl Method {
    /// Parses a method name. Method names are case-sensitive (RFC 9110 §9.1).
    pub fn parse(method: &str) -> Option<Self> {
        match method {
            "GET" => Some(Method::Get),
            "HEAD" => Some(Method::Head),
            "POST" => Some(Method::Post),
            _ => None,
        }
    }

    /// `"GET"`, `"HEAD"` or `"POST"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
