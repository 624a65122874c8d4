//! The keyed digest under which tokens are stored: HMAC-SHA-256 with a server key.
//!
//! A database dump, or write access to the database alone, can neither use nor mint
//! tokens: both need the server key. Keys carry an id so that they rotate without
//! logging anyone out: [`TokenHasher`] digests under the current key, and on a miss the
//! `Durin` service tries the previous keys and re-digests a hit under the current one.
//! The scheme itself is versioned ([`DigestScheme`]): a later scheme becomes a new key
//! entry, and old tokens keep verifying under the old entry until they are re-digested.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretSlice};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::{RoutingTag, TokenString};

/// The stored digest of a token: 32 bytes, rendered as 64 lower-case hex characters.
///
/// Digests are not secrets in the way tokens are (a digest cannot be used as a
/// credential), but `Debug` still shows only the first 8 hex characters.
///
/// A digest computed from a token by [`TokenHasher`] also carries the token's
/// [`RoutingTag`] (a hint for sharded stores: where the session lives); the hint is not
/// part of the digest's identity (equality, hashing, hex and serde ignore it), and a
/// digest made from bytes or hex has none.
#[derive(Clone, Copy)]
pub struct TokenDigest([u8; 32], Option<RoutingTag>);

impl PartialEq for TokenDigest {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl Eq for TokenDigest {}

impl std::hash::Hash for TokenDigest {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl TokenDigest {
    /// A digest from its raw bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        TokenDigest(bytes, None)
    }

    /// The routing tag of the token this digest was computed from, if known (see
    /// [`RoutingTag`]).
    pub const fn routing_tag(&self) -> Option<RoutingTag> {
        self.1
    }

    /// The same digest with a routing hint.
    #[must_use]
    pub const fn with_routing_tag(self, tag: RoutingTag) -> Self {
        TokenDigest(self.0, Some(tag))
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// 64 lower-case hex characters.
    pub fn to_hex(&self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut s = String::with_capacity(64);
        for b in self.0 {
            s.push(HEX[(b >> 4) as usize] as char);
            s.push(HEX[(b & 0xf) as usize] as char);
        }
        s
    }

    /// Parses 64 hex characters (either case).
    pub fn from_hex(hex: &str) -> Option<Self> {
        let bytes = hex.as_bytes();
        if bytes.len() != 64 {
            return None;
        }
        let nibble = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        };
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            out[i] = (nibble(pair[0])? << 4) | nibble(pair[1])?;
        }
        Some(TokenDigest(out, None))
    }

    /// A slice of raw bytes of length 32.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(bytes)
            .ok()
            .map(TokenDigest::from_bytes)
    }

    /// Compares two digests in constant time.
    pub fn ct_eq(&self, other: &TokenDigest) -> bool {
        // Four words folded into one difference, compared once: no branch on the data,
        // and one optimisation barrier instead of one per byte.
        let word = |bytes: &[u8; 32], i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&bytes[i * 8..i * 8 + 8]);
            u64::from_ne_bytes(w)
        };
        let diff = (0..4).fold(0u64, |acc, i| acc | (word(&self.0, i) ^ word(&other.0, i)));
        diff.ct_eq(&0).into()
    }
}

impl serde::Serialize for TokenDigest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for TokenDigest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let hex = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        TokenDigest::from_hex(&hex)
            .ok_or_else(|| serde::de::Error::custom("expected 64 hex digits"))
    }
}

impl fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenDigest({}…)", &self.to_hex()[..8])
    }
}

/// The digest schemes durin knows. Each key entry names its scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum DigestScheme {
    /// HMAC-SHA-256 over the whole token text (prefix included).
    #[default]
    HmacSha256V1,
    /// An imported django-rest-knox row: SHA-256 over a versioned label and knox's
    /// SHA-512 hex digest of the token (see [`crate::knox_legacy_digest`]). Not keyed:
    /// a session found under it is re-keyed to the current key on first use.
    LegacyKnoxSha512V1,
}

/// One server key: an id (for rotation and audit), the scheme, and the secret bytes.
#[derive(Clone)]
pub struct DigestKey {
    id: String,
    scheme: DigestScheme,
    secret: SecretSlice<u8>,
    mac: Hmac<Sha256>,
}

/// A server key that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key has no bytes.
    #[error("a digest key must not be empty")]
    Empty,
    /// The key id is empty or longer than 32 characters.
    #[error("a digest key id must be 1 to 32 characters")]
    BadId,
}

impl DigestKey {
    /// A key for [`DigestScheme::HmacSha256V1`].
    ///
    /// Use at least 32 random bytes; shorter keys are accepted (and logged at `warn`),
    /// since HMAC accepts any length, but they weaken the "a DB dump cannot mint tokens"
    /// guarantee.
    ///
    /// # Errors
    /// [`KeyError`] when the key is empty or the id is not 1 to 32 characters.
    pub fn new(id: impl Into<String>, secret: impl Into<Vec<u8>>) -> Result<Self, KeyError> {
        let id = id.into();
        let secret: Vec<u8> = secret.into();
        if secret.is_empty() {
            return Err(KeyError::Empty);
        }
        if id.is_empty() || id.len() > 32 {
            return Err(KeyError::BadId);
        }
        if secret.len() < 32 {
            tracing::warn!(key_id = %id, "digest key is shorter than 32 bytes");
        }
        let mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(&secret).map_err(|_| KeyError::Empty)?;
        Ok(DigestKey {
            id,
            scheme: DigestScheme::HmacSha256V1,
            secret: SecretSlice::from(secret),
            mac,
        })
    }

    /// A new random 32-byte key, for tests and for servers that generate a key file.
    pub fn generate(id: impl Into<String>) -> Self {
        let mut bytes = vec![0u8; 32];
        getrandom::fill(&mut bytes).expect("the OS random number generator failed");
        DigestKey::new(id, bytes).expect("32 random bytes make a valid key")
    }

    /// The key id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The scheme this key digests with.
    pub fn scheme(&self) -> DigestScheme {
        self.scheme
    }

    /// The secret bytes (to write a key file, say).
    ///
    /// # Security
    /// Whoever holds these bytes and a database dump can verify guessed tokens offline.
    pub fn expose_secret(&self) -> &[u8] {
        self.secret.expose_secret()
    }

    pub(crate) fn digest(&self, token: &str) -> TokenDigest {
        let mut mac = self.mac.clone();
        mac.update(token.as_bytes());
        TokenDigest(mac.finalize().into_bytes().into(), None)
    }
}

impl fmt::Debug for DigestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestKey")
            .field("id", &self.id)
            .field("scheme", &self.scheme)
            .field("secret", &"[redacted]")
            .finish()
    }
}

/// The server's keys: one current key that digests new tokens, and previous keys that
/// still verify tokens issued before a rotation.
#[derive(Clone, Debug)]
pub struct TokenHasher {
    current: DigestKey,
    previous: Vec<DigestKey>,
}

impl TokenHasher {
    /// A hasher with one key.
    pub fn new(current: DigestKey) -> Self {
        TokenHasher {
            current,
            previous: Vec::new(),
        }
    }

    /// Adds a previous key, still accepted for verification (tried in the order added).
    #[must_use]
    pub fn with_previous(mut self, key: DigestKey) -> Self {
        self.previous.push(key);
        self
    }

    /// The current key.
    pub fn current(&self) -> &DigestKey {
        &self.current
    }

    /// The previous keys, newest first as added.
    pub fn previous(&self) -> &[DigestKey] {
        &self.previous
    }

    /// The digest of `token` under the current key.
    pub fn digest(&self, token: &TokenString) -> TokenDigest {
        self.current
            .digest(token.expose_secret())
            .with_routing_tag(token.routing_tag())
    }

    /// The digests of `token` under each previous key.
    pub fn previous_digests<'a>(
        &'a self,
        token: &'a TokenString,
    ) -> impl Iterator<Item = TokenDigest> + 'a {
        self.previous.iter().map(move |key| {
            key.digest(token.expose_secret())
                .with_routing_tag(token.routing_tag())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TokenPrefix;

    #[test]
    fn digest_is_keyed_and_deterministic() {
        let token = TokenString::generate(&TokenPrefix::default());
        let a = TokenHasher::new(DigestKey::new("a", vec![1u8; 32]).unwrap());
        let a2 = TokenHasher::new(DigestKey::new("a2", vec![1u8; 32]).unwrap());
        let b = TokenHasher::new(DigestKey::new("b", vec![2u8; 32]).unwrap());
        assert_eq!(a.digest(&token), a2.digest(&token));
        assert_ne!(a.digest(&token), b.digest(&token));
    }

    #[test]
    fn matches_the_hmac_sha256_test_vector() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let key = DigestKey::new("k", b"Jefe".to_vec()).unwrap();
        let digest = key.digest("what do ya want for nothing?");
        assert_eq!(
            digest.to_hex(),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn hex_round_trips_and_debug_is_short() {
        let d = TokenDigest::from_bytes([0xab; 32]);
        assert_eq!(TokenDigest::from_hex(&d.to_hex()), Some(d));
        assert_eq!(TokenDigest::from_hex("zz"), None);
        assert_eq!(format!("{d:?}"), "TokenDigest(abababab…)");
        assert!(d.ct_eq(&d));
        assert!(!d.ct_eq(&TokenDigest::from_bytes([0; 32])));
    }

    #[test]
    fn keys_never_show_their_secret() {
        let key = DigestKey::new("k1", b"super-secret-key-material-000000".to_vec()).unwrap();
        let shown = format!("{key:?}");
        assert!(!shown.contains("super-secret"));
        assert!(DigestKey::new("k", Vec::new()).is_err());
        assert!(DigestKey::new("", vec![1]).is_err());
    }
}
