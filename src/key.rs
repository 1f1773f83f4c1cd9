//! Key material: secret keys with a short id, their textual form, and the keyring.
//!
//! A [`Key`] holds a secret of 32 to 64 bytes and an id of 1 to 8 ASCII letters or digits.
//! The id travels in every token so that keys can rotate: a [`Keyring`] signs with one key
//! and verifies with that key and any number of verify-only keys.
//!
//! # Rotating keys
//!
//! Links in old emails must keep working for as long as anyone may click them, so a key
//! is never simply replaced:
//!
//! 1. **Add** the new key to every endpoint node as a *verify-only* key and deploy.
//!    Nothing signs with it yet, but every node can already verify it.
//! 2. **Promote** it to the signing key on the senders (and move the old signing key to
//!    the verify-only list). New mail now carries the new key id.
//! 3. **Keep** the old key verify-only for as long as old emails may be clicked —
//!    months or years; a retired key costs nothing to keep.
//! 4. Only after a **compromise** remove the old key: its links then answer 404 (clicks)
//!    or an untracked pixel (opens), which is the point.
//!
//! The textual form of a key ring is one key per line, the signing key first
//! ([`Keyring::from_text`]), so steps 1–3 are edits to one file or environment variable.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use hmac::{KeyInit, Mac};
use zeroize::Zeroizing;

use crate::error::KeyError;
use crate::id::Kind;
pub use crate::id::{KeyId, MAX_KEY_ID_LEN};

/// HMAC-SHA256, the one MAC behind every key.
pub(crate) type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Fewest secret bytes a key accepts (256 bits).
pub const MIN_SECRET_LEN: usize = 32;
/// Most secret bytes a key accepts (one SHA-256 block; HMAC would hash a longer key).
pub const MAX_SECRET_LEN: usize = 64;

/// Prefix of the textual key form, `hbk1.<id>.<secret as base64url>`.
pub(crate) const KEY_TEXT_PREFIX: &str = "hbk1.";
/// Prefix of the textual pseudonym key form, `hbp1.<secret as base64url>`.
pub(crate) const PSEUDONYM_KEY_PREFIX: &str = "hbp1.";
/// How errors name each kind of key, so a mix-up of the two is named as one.
pub(crate) const SIGNING_KEY_NAME: &str = "signing key (`hbk1.…`)";
pub(crate) const PSEUDONYM_KEY_NAME: &str = "pseudonym key (`hbp1.…`)";

/// Domain-separation labels absorbed into each key's precomputed MAC states, one per
/// purpose, so a tag of one purpose is never valid for another.
const CLICK_LABEL: &[u8] = b"hashbeacon/v1/click\0";
const OPEN_LABEL: &[u8] = b"hashbeacon/v1/open\0";
const UNSUBSCRIBE_LABEL: &[u8] = b"hashbeacon/v1/unsubscribe\0";

pub(crate) const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A keyed state with a purpose's domain label absorbed.
fn labelled(keyed: &HmacSha256, label: &[u8]) -> HmacSha256 {
    let mut mac = keyed.clone();
    mac.update(label);
    mac
}

/// The HMAC-SHA256 state keyed with a secret of 32 to 64 bytes.
pub(crate) fn keyed_state(secret: &[u8]) -> Result<HmacSha256, KeyError> {
    if secret.len() < MIN_SECRET_LEN {
        return Err(KeyError::SecretTooShort { len: secret.len() });
    }
    if secret.len() > MAX_SECRET_LEN {
        return Err(KeyError::SecretTooLong { len: secret.len() });
    }
    HmacSha256::new_from_slice(secret).map_err(|_| KeyError::SecretTooShort { len: secret.len() })
}

/// Decodes the base64url secret of a textual key form, bounded before decoding.
pub(crate) fn decode_secret(encoded: &str) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    if encoded.len() > MAX_SECRET_LEN.div_ceil(3) * 4 {
        return Err(KeyError::SecretTooLong {
            len: encoded.len() * 3 / 4,
        });
    }
    B64.decode(encoded)
        .map(Zeroizing::new)
        .map_err(|_| KeyError::Malformed("the secret is not canonical unpadded base64url"))
}

/// A new 32-byte secret from the operating system's random number generator.
#[cfg(feature = "keygen")]
pub(crate) fn random_secret() -> Result<Zeroizing<[u8; MIN_SECRET_LEN]>, KeyError> {
    let mut secret = Zeroizing::new([0u8; MIN_SECRET_LEN]);
    getrandom::fill(secret.as_mut()).map_err(|_| KeyError::Randomness)?;
    Ok(secret)
}

// `KeyId` itself is plain data in `crate::id`, below the errors that name it; its
// validating constructor lives here, beside the error it returns.
impl KeyId {
    /// Validates and stores a key id.
    pub fn new(id: &str) -> Result<Self, KeyError> {
        Self::checked(id).ok_or(KeyError::InvalidId)
    }
}

impl FromStr for KeyId {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, KeyError> {
        Self::new(s)
    }
}

/// A secret signing key with its id.
///
/// The keyed HMAC states for both purposes are computed once here, so signing and
/// verifying never re-derive them. The secret is zeroized on drop and never shown by
/// `Debug`; [`Key::to_text`] is the one deliberate way to export it.
///
/// ```
/// use hashbeacon::{Key, KeyId};
/// let key = Key::new(KeyId::new("k1")?, &[7u8; 32])?;
/// let text = key.to_text();
/// assert!(text.starts_with("hbk1.k1."));
/// let again: Key = text.parse()?;
/// assert_eq!(again.id(), key.id());
/// assert!(!format!("{key:?}").contains(&text[8..]));
/// # Ok::<(), hashbeacon::KeyError>(())
/// ```
#[derive(Clone)]
pub struct Key {
    id: KeyId,
    secret: Zeroizing<Vec<u8>>,
    /// Keyed with the secret, no label yet: the start of every purpose's MAC.
    keyed: HmacSha256,
    click: HmacSha256,
    open: HmacSha256,
    unsubscribe: HmacSha256,
}

impl Key {
    /// Builds a key from secret bytes (32 to 64 bytes).
    pub fn new(id: KeyId, secret: &[u8]) -> Result<Self, KeyError> {
        let keyed = keyed_state(secret)?;
        Ok(Self {
            id,
            secret: Zeroizing::new(secret.to_vec()),
            click: labelled(&keyed, CLICK_LABEL),
            open: labelled(&keyed, OPEN_LABEL),
            unsubscribe: labelled(&keyed, UNSUBSCRIBE_LABEL),
            keyed,
        })
    }

    /// Generates a new 32-byte key from the operating system's random number generator.
    ///
    /// ```
    /// # use hashbeacon::{Key, KeyId};
    /// let a = Key::generate(KeyId::new("k1")?)?;
    /// let b = Key::generate(KeyId::new("k1")?)?;
    /// assert_ne!(a.to_text(), b.to_text());
    /// # Ok::<(), hashbeacon::KeyError>(())
    /// ```
    #[cfg(feature = "keygen")]
    #[cfg_attr(docsrs, doc(cfg(feature = "keygen")))]
    pub fn generate(id: KeyId) -> Result<Self, KeyError> {
        Self::new(id, random_secret()?.as_ref())
    }

    /// The key's id.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The textual form `hbk1.<id>.<secret as unpadded base64url>`, for an environment
    /// variable or a key file. It contains the secret: store it like a password.
    pub fn to_text(&self) -> Zeroizing<String> {
        let mut out = String::with_capacity(KEY_TEXT_PREFIX.len() + MAX_KEY_ID_LEN + 1 + 86);
        out.push_str(KEY_TEXT_PREFIX);
        out.push_str(self.id.as_str());
        out.push('.');
        B64.encode_string(self.secret.as_slice(), &mut out);
        Zeroizing::new(out)
    }

    /// Parses the textual form written by [`Key::to_text`]. Surrounding whitespace (a
    /// trailing newline in a key file) is ignored.
    pub fn from_text(text: &str) -> Result<Self, KeyError> {
        let text = text.trim();
        if text.starts_with(PSEUDONYM_KEY_PREFIX) {
            return Err(KeyError::OtherKey {
                expected: SIGNING_KEY_NAME,
                found: PSEUDONYM_KEY_NAME,
            });
        }
        let rest = text
            .strip_prefix(KEY_TEXT_PREFIX)
            .ok_or(KeyError::Malformed("expected a key starting with `hbk1.`"))?;
        let (id, secret) = rest
            .split_once('.')
            .ok_or(KeyError::Malformed("expected `hbk1.<id>.<secret>`"))?;
        let id = KeyId::new(id)?;
        Self::new(id, &decode_secret(secret)?)
    }

    /// The precomputed keyed MAC state for a purpose, domain label already absorbed.
    pub(crate) fn mac_state(&self, kind: Kind) -> &HmacSha256 {
        match kind {
            Kind::Click => &self.click,
            Kind::Open => &self.open,
            Kind::Unsubscribe => &self.unsubscribe,
        }
    }

    /// A keyed MAC state with another purpose's domain label absorbed (conversion
    /// references), so that purpose's tags are never valid tokens and vice versa.
    pub(crate) fn labelled_mac(&self, label: &[u8]) -> HmacSha256 {
        labelled(&self.keyed, label)
    }
}

impl FromStr for Key {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, KeyError> {
        Self::from_text(s)
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// One signing key plus any number of verify-only keys, looked up by id.
///
/// ```
/// use hashbeacon::{Key, KeyId, Keyring};
/// let old = Key::new(KeyId::new("k1")?, &[1u8; 32])?;
/// let new = Key::new(KeyId::new("k2")?, &[2u8; 32])?;
/// let ring = Keyring::new(new).with_verify_only(old)?;
/// assert_eq!(ring.signing_key().id().as_str(), "k2");
/// assert!(ring.get("k1").is_some());
/// assert!(ring.get("k3").is_none());
/// # Ok::<(), hashbeacon::KeyError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Keyring {
    signing: Key,
    verify_only: Vec<Key>,
}

impl Keyring {
    /// A keyring that signs with `signing` and verifies only its tokens.
    pub fn new(signing: Key) -> Self {
        Self {
            signing,
            verify_only: Vec::new(),
        }
    }

    /// Adds a verify-only key (builder form of [`Keyring::add_verify_only`]).
    pub fn with_verify_only(mut self, key: Key) -> Result<Self, KeyError> {
        self.add_verify_only(key)?;
        Ok(self)
    }

    /// Adds a verify-only key. Its id must differ from every key already in the ring.
    pub fn add_verify_only(&mut self, key: Key) -> Result<(), KeyError> {
        if self.get(key.id.as_str()).is_some() {
            return Err(KeyError::DuplicateId(key.id));
        }
        if self.verify_only.len() == self.verify_only.capacity() {
            // Growing in place would move the keys and free the old buffer with their
            // MAC states in it: copy them into a larger buffer instead and drop the
            // originals, which wipes them.
            let mut grown = Vec::with_capacity((2 * self.verify_only.len()).max(4));
            grown.extend(self.verify_only.iter().cloned());
            self.verify_only = grown;
        }
        self.verify_only.push(key);
        Ok(())
    }

    /// The key new tokens are signed with.
    pub fn signing_key(&self) -> &Key {
        &self.signing
    }

    /// The verify-only keys, in the order they were added.
    pub fn verify_only_keys(&self) -> &[Key] {
        &self.verify_only
    }

    /// Finds a key (signing or verify-only) by id.
    pub fn get(&self, id: &str) -> Option<&Key> {
        self.get_bytes(id.as_bytes())
    }

    /// [`Keyring::get`] for an id not yet known to be text.
    pub(crate) fn get_bytes(&self, id: &[u8]) -> Option<&Key> {
        std::iter::once(&self.signing)
            .chain(&self.verify_only)
            .find(|key| key.id.used() == id)
    }

    /// Parses a keyring from text: one key per line in the form of [`Key::to_text`], the
    /// signing key first, then the verify-only keys. Blank lines and lines starting with
    /// `#` are ignored; keys may also be separated by commas (handy in an environment
    /// variable).
    ///
    /// ```
    /// # use hashbeacon::{Key, KeyId, Keyring};
    /// let k1 = Key::new(KeyId::new("k1")?, &[1u8; 32])?;
    /// let k2 = Key::new(KeyId::new("k2")?, &[2u8; 32])?;
    /// let text = format!("# signing\n{}\n{}\n", k2.to_text().as_str(), k1.to_text().as_str());
    /// let ring = Keyring::from_text(&text)?;
    /// assert_eq!(ring.signing_key().id(), k2.id());
    /// assert_eq!(ring.verify_only_keys().len(), 1);
    /// # Ok::<(), hashbeacon::KeyError>(())
    /// ```
    pub fn from_text(text: &str) -> Result<Self, KeyError> {
        let mut keys = text
            .lines()
            // Comments go before splitting at commas: a comment may contain commas.
            .filter(|line| !line.trim_start().starts_with('#'))
            .flat_map(|line| line.split(','))
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(Key::from_text);
        let signing = keys.next().ok_or(KeyError::Malformed("no key found"))??;
        keys.try_fold(Self::new(signing), |ring, key| ring.with_verify_only(key?))
    }
}

impl From<Key> for Keyring {
    fn from(key: Key) -> Self {
        Self::new(key)
    }
}

impl FromStr for Keyring {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, KeyError> {
        Self::from_text(s)
    }
}
