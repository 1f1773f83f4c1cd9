//! The two names every token carries ahead of its claims: its purpose ([`Kind`]) and
//! the id of the key that signed it ([`KeyId`]).
//!
//! Plain data at the bottom of the crate, so the errors that mention them
//! ([`crate::error`]) need nothing from the keys and tokens they describe.

use std::fmt;

/// Most characters in a key id.
pub const MAX_KEY_ID_LEN: usize = 8;

/// What a token is for. Part of the MAC's domain separation: a token of one kind is
/// never accepted as a token of another (nor as a conversion reference).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Kind {
    /// A tracked link: verifying it yields a destination to redirect to.
    Click,
    /// An open pixel.
    Open,
    /// A one-click unsubscribe (RFC 8058): names a list or campaign and a recipient.
    Unsubscribe,
}

impl Kind {
    /// Every kind, in code order.
    pub const ALL: [Kind; 3] = [Kind::Click, Kind::Open, Kind::Unsubscribe];

    pub(crate) fn code(self) -> u8 {
        match self {
            Kind::Click => b'c',
            Kind::Open => b'o',
            Kind::Unsubscribe => b'u',
        }
    }

    pub(crate) fn from_code(code: u8) -> Option<Self> {
        match code {
            b'c' => Some(Kind::Click),
            b'o' => Some(Kind::Open),
            b'u' => Some(Kind::Unsubscribe),
            _ => None,
        }
    }

    /// The kind named by [`Kind::as_str`]'s text, e.g. as a store wrote it.
    ///
    /// ```
    /// use hashbeacon::Kind;
    /// assert_eq!(Kind::from_name("unsubscribe"), Some(Kind::Unsubscribe));
    /// assert!(Kind::ALL.iter().all(|&kind| Kind::from_name(kind.as_str()) == Some(kind)));
    /// assert_eq!(Kind::from_name("Click"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }

    /// `"click"`, `"open"` or `"unsubscribe"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Click => "click",
            Kind::Open => "open",
            Kind::Unsubscribe => "unsubscribe",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A key id: 1 to 8 ASCII letters or digits, carried in every token.
///
/// It is `Copy` and stored inline, so verifying never allocates for it.
///
/// ```
/// use hashbeacon::KeyId;
/// let id: KeyId = "k2026a".parse()?;
/// assert_eq!(id.as_str(), "k2026a");
/// assert!("no.dots".parse::<KeyId>().is_err());
/// # Ok::<(), hashbeacon::KeyError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId {
    bytes: [u8; MAX_KEY_ID_LEN],
    len: u8,
}

impl KeyId {
    /// The id if it is 1 to 8 ASCII letters or digits; [`KeyId::new`] says why not.
    pub(crate) fn checked(id: &str) -> Option<Self> {
        let raw = id.as_bytes();
        if raw.is_empty() || !raw.iter().all(u8::is_ascii_alphanumeric) {
            return None;
        }
        let mut bytes = [0u8; MAX_KEY_ID_LEN];
        bytes.get_mut(..raw.len())?.copy_from_slice(raw);
        Some(Self {
            bytes,
            len: u8::try_from(raw.len()).ok()?,
        })
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII alphanumerics are ever stored.
        std::str::from_utf8(self.used()).unwrap_or_default()
    }

    pub(crate) fn used(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or_default()
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// A key id is written as its text, e.g. `"k1"`.
#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl serde::Serialize for KeyId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A key id is read from its text and checked as [`KeyId::new`] checks it.
#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl<'de> serde::Deserialize<'de> for KeyId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::checked(&text).ok_or_else(|| {
            serde::de::Error::custom("invalid key id: expected 1 to 8 ASCII letters or digits")
        })
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
