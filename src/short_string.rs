//! [`ShortString`]: an owned string that keeps up to 64 bytes inline.
//!
//! Events own their campaign id, recipient pseudonym and link label. Each of these is
//! at most 64 bytes by the token format, so storing them inline saves a heap allocation
//! apiece on every handled request, while the type still reads like a `String`: it
//! derefs to `str`, compares with `str`, `&str` and `String`, hashes like `str` and
//! converts from both.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

/// Bytes kept inline: the longest free-form token field (a campaign id).
pub const INLINE_CAPACITY: usize = 64;

/// An owned, immutable string stored inline when it is at most [`INLINE_CAPACITY`]
/// bytes, on the heap otherwise.
///
/// Every field of a token fits inline, so building one from a verified token never
/// allocates. Use it like a `&str`:
///
/// ```
/// use hashbeacon::ShortString;
/// let campaign = ShortString::from("spring-sale");
/// assert_eq!(campaign, "spring-sale");
/// assert_eq!(campaign.as_str(), "spring-sale");
/// assert!(campaign.starts_with("spring")); // any `str` method, through `Deref`
/// assert_eq!(format!("{campaign}"), "spring-sale");
/// assert_eq!(ShortString::from(String::from("x")), ShortString::from("x"));
/// ```
#[derive(Clone)]
pub struct ShortString(Repr);

#[derive(Clone)]
enum Repr {
    Inline { len: u8, bytes: [u8; INLINE_CAPACITY] },
    Heap(Box<str>),
}

impl ShortString {
    /// The empty string.
    pub const fn new() -> Self {
        Self(Repr::Inline {
            len: 0,
            bytes: [0; INLINE_CAPACITY],
        })
    }

    /// The string as a `&str`.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Inline { len, bytes } => {
                let used = bytes.get(..usize::from(*len)).unwrap_or_default();
                // Only whole `str`s are ever copied in, so this never falls back.
                std::str::from_utf8(used).unwrap_or_default()
            }
            Repr::Heap(text) => text,
        }
    }

    /// Whether the text is stored inline (no heap allocation).
    pub fn is_inline(&self) -> bool {
        matches!(self.0, Repr::Inline { .. })
    }

    fn inline(text: &str) -> Option<Self> {
        let mut bytes = [0; INLINE_CAPACITY];
        bytes.get_mut(..text.len())?.copy_from_slice(text.as_bytes());
        Some(Self(Repr::Inline {
            len: u8::try_from(text.len()).ok()?,
            bytes,
        }))
    }
}

impl Default for ShortString {
    fn default() -> Self {
        Self::new()
    }
}

impl Deref for ShortString {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for ShortString {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for ShortString {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for ShortString {
    fn from(text: &str) -> Self {
        Self::inline(text).unwrap_or_else(|| Self(Repr::Heap(text.into())))
    }
}

impl From<&String> for ShortString {
    fn from(text: &String) -> Self {
        Self::from(text.as_str())
    }
}

impl From<String> for ShortString {
    fn from(text: String) -> Self {
        // A long string keeps its buffer rather than being copied.
        Self::inline(&text).unwrap_or_else(|| Self(Repr::Heap(text.into_boxed_str())))
    }
}

impl From<ShortString> for String {
    fn from(text: ShortString) -> Self {
        match text.0 {
            Repr::Heap(text) => text.into_string(),
            Repr::Inline { .. } => text.as_str().to_owned(),
        }
    }
}

impl fmt::Debug for ShortString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for ShortString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq for ShortString {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for ShortString {}

impl PartialOrd for ShortString {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ShortString {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

/// Hashes exactly as the `str` it holds, so maps keyed by it can be queried with `&str`.
impl Hash for ShortString {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

macro_rules! eq_with {
    ($($other:ty),*) => {$(
        impl PartialEq<$other> for ShortString {
            fn eq(&self, other: &$other) -> bool {
                self.as_str() == AsRef::<str>::as_ref(other)
            }
        }
        impl PartialEq<ShortString> for $other {
            fn eq(&self, other: &ShortString) -> bool {
                AsRef::<str>::as_ref(self) == other.as_str()
            }
        }
    )*};
}

eq_with!(str, &str, String);

/// Serialized as the string it holds.
#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl serde::Serialize for ShortString {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Deserialized from a string.
#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl<'de> serde::Deserialize<'de> for ShortString {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = ShortString;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<ShortString, E> {
                Ok(ShortString::from(text))
            }
            fn visit_string<E: serde::de::Error>(self, text: String) -> Result<ShortString, E> {
                Ok(ShortString::from(text))
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::hash_map::DefaultHasher;

    fn hash_of<T: Hash + ?Sized>(value: &T) -> u64 {
        let mut hasher = DefaultHasher::new();
        value.hash(&mut hasher);
        hasher.finish()
    }

    #[test]
    fn boundary_lengths_choose_inline_or_heap() {
        let fits = "a".repeat(INLINE_CAPACITY);
        let over = "a".repeat(INLINE_CAPACITY + 1);
        assert!(ShortString::from(fits.as_str()).is_inline());
        assert!(!ShortString::from(over.as_str()).is_inline());
        assert!(ShortString::from(fits.clone()).is_inline());
        assert!(!ShortString::from(over.clone()).is_inline());
        assert!(ShortString::new().is_empty());
    }

    #[cfg(feature = "serde")]
    #[test]
    fn serde_round_trips_as_a_plain_string() {
        let campaign = ShortString::from("spring-sale");
        let json = serde_json::to_string(&campaign).unwrap();
        assert_eq!(json, "\"spring-sale\"");
        assert_eq!(serde_json::from_str::<ShortString>(&json).unwrap(), campaign);
        let long = "x".repeat(100);
        let back: ShortString = serde_json::from_str(&format!("\"{long}\"")).unwrap();
        assert_eq!(back, long);
    }

    proptest! {
        /// Whatever the length, the text reads back unchanged and behaves like `str`.
        #[test]
        fn behaves_like_the_str_it_holds(a in ".{0,80}", b in ".{0,80}") {
            let (sa, sb) = (ShortString::from(a.as_str()), ShortString::from(b.clone()));
            prop_assert_eq!(sa.as_str(), a.as_str());
            prop_assert_eq!(&*sb, b.as_str());
            prop_assert_eq!(sa == sb, a == b);
            prop_assert_eq!(sa.cmp(&sb), a.cmp(&b));
            prop_assert_eq!(hash_of(&sa), hash_of(a.as_str()));
            prop_assert_eq!(sa.to_string(), a.clone());
            prop_assert_eq!(format!("{sa:?}"), format!("{a:?}"));
            prop_assert!(sa == a.as_str() && sa == a && a.as_str() == sa);
            prop_assert_eq!(String::from(sb), b);
        }
    }
}
