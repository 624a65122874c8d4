//! The token codec: `{prefix}_{base62 body}{6-char base62 CRC32}`.
//!
//! The format follows GitHub's and npm's tokens: a typed prefix that secret scanners can
//! recognise, `_` so that a double-click selects the whole token, 32 bytes from the OS
//! CSPRNG as the body, and a CRC32 checksum that rejects typos and garbage before any I/O.
//! The checksum covers `prefix_body`, so a change to any single character — prefix,
//! separator, body or checksum — is rejected.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

/// The alphabet of the body and checksum: digits, upper case, lower case.
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Random bytes in a token body (256 bits).
const BODY_BYTES: usize = 32;
/// Base62 characters that hold [`BODY_BYTES`] bytes: ceil(256 / log2(62)).
pub(crate) const BODY_LEN: usize = 43;
/// Base62 characters of the CRC32 checksum: 62^6 > 2^32.
const CHECKSUM_LEN: usize = 6;
/// The longest prefix accepted.
pub const MAX_PREFIX_LEN: usize = 16;
/// The longest token string: prefix, `_`, body, checksum.
pub const MAX_TOKEN_LEN: usize = MAX_PREFIX_LEN + 1 + BODY_LEN + CHECKSUM_LEN;

/// Why a string is not a well-formed token. Never carries the token itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenFormatError {
    /// The string is too short or too long to be a token.
    #[error("token has the wrong length")]
    Length,
    /// No `_` separates a prefix from the body.
    #[error("token has no prefix separator")]
    MissingSeparator,
    /// The prefix is not `[a-z0-9]{1,16}`.
    #[error("token prefix is not [a-z0-9]{{1,16}}")]
    Prefix,
    /// The body or checksum contains a character outside base62.
    #[error("token contains a character outside base62")]
    Alphabet,
    /// The checksum does not match the body.
    #[error("token checksum does not match")]
    Checksum,
    /// The prefix is well formed but not one this server issues.
    #[error("token prefix is not accepted here")]
    ForeignPrefix,
}

/// A token prefix: 1 to 16 characters of `[a-z0-9]`. The default is `durin`.
#[derive(Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TokenPrefix(String);

impl TokenPrefix {
    /// Validates a prefix.
    ///
    /// # Errors
    /// [`TokenFormatError::Prefix`] unless `prefix` is `[a-z0-9]{1,16}`.
    pub fn new(prefix: impl Into<String>) -> Result<Self, TokenFormatError> {
        let prefix = prefix.into();
        if valid_prefix(&prefix) {
            Ok(TokenPrefix(prefix))
        } else {
            Err(TokenFormatError::Prefix)
        }
    }

    /// The prefix text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for TokenPrefix {
    fn default() -> Self {
        TokenPrefix("durin".to_owned())
    }
}

impl TryFrom<String> for TokenPrefix {
    type Error = TokenFormatError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        TokenPrefix::new(value)
    }
}

impl From<TokenPrefix> for String {
    fn from(value: TokenPrefix) -> Self {
        value.0
    }
}

impl fmt::Debug for TokenPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenPrefix({:?})", self.0)
    }
}

impl fmt::Display for TokenPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which partition of a sharded store holds a user's sessions: 3 base62 characters
/// derived from the user id, carried at the start of the body of the tokens and in the
/// session ids issued to that user, so that a token alone (or a session id alone) says
/// where its session lives. Redis Cluster keys a user's sessions under the hash tag
/// `{prefix:<tag>}`: every operation on them touches one slot, and authentication stays
/// one `GET`.
///
/// The tag is *not* secret and *not* keyed: anyone who knows a user id can compute it,
/// and a token reveals ~17.9 bits of a hash of its user's id (two tokens with the same
/// tag probably belong to one user). It replaces 3 of the 43 random characters of a
/// token body, which keeps 29 random bytes (232 bits).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoutingTag([u8; RoutingTag::LEN]);

impl RoutingTag {
    /// Characters in a tag.
    pub const LEN: usize = 3;

    /// The tag of `user`: the first 32 bits of SHA-256 over a versioned label and the
    /// user id, modulo 62^3, as 3 base62 digits.
    pub fn for_user(user: &crate::UserId) -> Self {
        use sha2::{Digest, Sha256};
        let hash = Sha256::new()
            .chain_update(b"durin routing tag v1\0")
            .chain_update(user.as_str().as_bytes())
            .finalize();
        let number = u32::from_be_bytes([hash[0], hash[1], hash[2], hash[3]]) % (62 * 62 * 62);
        let mut text = String::with_capacity(Self::LEN);
        encode_base62(&number.to_be_bytes(), Self::LEN, &mut text);
        let mut tag = [0u8; Self::LEN];
        tag.copy_from_slice(text.as_bytes());
        RoutingTag(tag)
    }

    /// Reads a tag: exactly 3 base62 characters.
    pub fn parse(text: &str) -> Option<Self> {
        let bytes: [u8; Self::LEN] = text.as_bytes().try_into().ok()?;
        bytes
            .iter()
            .all(u8::is_ascii_alphanumeric)
            .then_some(RoutingTag(bytes))
    }

    /// The tag's text.
    pub fn as_str(&self) -> &str {
        // Only ever built from ASCII alphanumerics.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Debug for RoutingTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RoutingTag({})", self.as_str())
    }
}

impl fmt::Display for RoutingTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Random bytes in the body of a routed token (after its 3-character tag): 232 bits,
/// which 40 base62 characters hold (62^40 > 2^238).
const ROUTED_BODY_BYTES: usize = 29;

/// A well-formed token (access, refresh or API key) whose checksum has been verified.
///
/// The plaintext lives in a [`SecretString`]: `Debug` prints `TokenString([redacted])`,
/// there is no `Display`, and the only way to the text is [`TokenString::expose_secret`].
#[derive(Clone)]
pub struct TokenString {
    secret: SecretString,
    prefix_len: usize,
}

impl TokenString {
    /// Draws a new token with `prefix` from the operating system's CSPRNG.
    ///
    /// # Panics
    /// If the operating system cannot provide random bytes: issuing a guessable token is
    /// never an acceptable fallback.
    pub fn generate(prefix: &TokenPrefix) -> Self {
        let mut bytes = [0u8; BODY_BYTES];
        getrandom::fill(&mut bytes).expect("the OS random number generator failed");
        let mut text = String::with_capacity(prefix.0.len() + 1 + BODY_LEN + CHECKSUM_LEN);
        text.push_str(&prefix.0);
        text.push('_');
        encode_base62(&bytes, BODY_LEN, &mut text);
        let checksum = crc32fast::hash(text.as_bytes());
        encode_base62(&checksum.to_be_bytes(), CHECKSUM_LEN, &mut text);
        bytes.fill(0);
        TokenString {
            prefix_len: prefix.0.len(),
            secret: SecretString::from(text),
        }
    }

    /// Draws a new token whose body starts with `tag` (see [`RoutingTag`]); the other 40
    /// body characters hold 29 random bytes. Same format, length and checksum as
    /// [`TokenString::generate`]: parsers and secret scanners see no difference.
    ///
    /// # Panics
    /// If the operating system cannot provide random bytes.
    pub fn generate_routed(prefix: &TokenPrefix, tag: RoutingTag) -> Self {
        let mut bytes = [0u8; ROUTED_BODY_BYTES];
        getrandom::fill(&mut bytes).expect("the OS random number generator failed");
        let mut text = String::with_capacity(prefix.0.len() + 1 + BODY_LEN + CHECKSUM_LEN);
        text.push_str(&prefix.0);
        text.push('_');
        text.push_str(tag.as_str());
        encode_base62(&bytes, BODY_LEN - RoutingTag::LEN, &mut text);
        let checksum = crc32fast::hash(text.as_bytes());
        encode_base62(&checksum.to_be_bytes(), CHECKSUM_LEN, &mut text);
        bytes.fill(0);
        TokenString {
            prefix_len: prefix.0.len(),
            secret: SecretString::from(text),
        }
    }

    /// The routing tag the token's body starts with. Meaningful for tokens made by
    /// [`TokenString::generate_routed`]; for others it is 3 random characters.
    pub fn routing_tag(&self) -> RoutingTag {
        let start = self.prefix_len + 1;
        let body = &self.secret.expose_secret().as_bytes()[start..start + RoutingTag::LEN];
        let mut tag = [0u8; RoutingTag::LEN];
        tag.copy_from_slice(body);
        RoutingTag(tag)
    }

    /// Parses and checks a token without any I/O.
    ///
    /// # Errors
    /// A [`TokenFormatError`] naming what is wrong: length, separator, prefix, alphabet
    /// or checksum.
    pub fn parse(text: &str) -> Result<Self, TokenFormatError> {
        let prefix_len = check_format(text)?;
        Ok(TokenString {
            secret: SecretString::from(text.to_owned()),
            prefix_len,
        })
    }

    /// The prefix this token carries (not secret).
    pub fn prefix(&self) -> &str {
        &self.secret.expose_secret()[..self.prefix_len]
    }

    /// The token text.
    ///
    /// # Security
    /// This is the bearer credential itself. Hand it to the client once, at issue; never
    /// log it, store it, or put it in an error message.
    pub fn expose_secret(&self) -> &str {
        self.secret.expose_secret()
    }
}

impl fmt::Debug for TokenString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenString([redacted])")
    }
}

fn valid_prefix(prefix: &str) -> bool {
    (1..=MAX_PREFIX_LEN).contains(&prefix.len())
        && prefix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// Checks the whole format and returns the prefix length.
fn check_format(text: &str) -> Result<usize, TokenFormatError> {
    let min = 1 + 1 + BODY_LEN + CHECKSUM_LEN;
    if text.len() < min || text.len() > MAX_TOKEN_LEN {
        return Err(TokenFormatError::Length);
    }
    let bytes = text.as_bytes();
    let tail_start = text.len() - BODY_LEN - CHECKSUM_LEN;
    if bytes[tail_start - 1] != b'_' {
        return Err(if text.contains('_') {
            TokenFormatError::Length
        } else {
            TokenFormatError::MissingSeparator
        });
    }
    let prefix = &text[..tail_start - 1];
    if !valid_prefix(prefix) {
        return Err(TokenFormatError::Prefix);
    }
    let tail = &bytes[tail_start..];
    if !tail.iter().all(u8::is_ascii_alphanumeric) {
        return Err(TokenFormatError::Alphabet);
    }
    let (signed, checksum) = bytes.split_at(text.len() - CHECKSUM_LEN);
    let mut expected = String::with_capacity(CHECKSUM_LEN);
    encode_base62(
        &crc32fast::hash(signed).to_be_bytes(),
        CHECKSUM_LEN,
        &mut expected,
    );
    if expected.as_bytes() != checksum {
        return Err(TokenFormatError::Checksum);
    }
    Ok(prefix.len())
}

/// Appends `bytes` (big-endian) as exactly `width` base62 digits; `width` must be enough.
pub(crate) fn encode_base62(bytes: &[u8], width: usize, out: &mut String) {
    let mut number = bytes.to_vec();
    let mut digits = vec![0u8; width];
    for slot in digits.iter_mut().rev() {
        // Long division of the big-endian number by 62.
        let mut remainder = 0u32;
        for byte in number.iter_mut() {
            let acc = (remainder << 8) | u32::from(*byte);
            *byte = (acc / 62) as u8;
            remainder = acc % 62;
        }
        *slot = BASE62[remainder as usize];
    }
    debug_assert!(number.iter().all(|&b| b == 0), "width too small");
    number.fill(0);
    out.extend(digits.iter().map(|&d| d as char));
}

/// A random identifier of 16 bytes, as 22 base62 characters, after `tag` and `_`.
pub(crate) fn routed_id(tag: RoutingTag) -> String {
    let mut id = String::with_capacity(RoutingTag::LEN + 1 + 22);
    id.push_str(tag.as_str());
    id.push('_');
    id.push_str(&random_id());
    id
}

/// A random identifier of 16 bytes from the OS CSPRNG, as 22 base62 characters.
pub(crate) fn random_id() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the OS random number generator failed");
    let mut id = String::with_capacity(22);
    encode_base62(&bytes, 22, &mut id);
    id
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn prefix() -> TokenPrefix {
        TokenPrefix::default()
    }

    #[test]
    fn routed_tokens_keep_the_format_and_carry_the_tag() {
        let user = crate::UserId::new("42").unwrap();
        let tag = RoutingTag::for_user(&user);
        assert_eq!(tag, RoutingTag::for_user(&user));
        assert_eq!(RoutingTag::parse(tag.as_str()), Some(tag));
        assert_eq!(RoutingTag::parse("ab"), None);
        assert_eq!(RoutingTag::parse("a-b"), None);
        let token = TokenString::generate_routed(&prefix(), tag);
        let text = token.expose_secret();
        assert_eq!(text.len(), "durin_".len() + BODY_LEN + CHECKSUM_LEN);
        assert_eq!(&text[6..9], tag.as_str());
        let parsed = TokenString::parse(text).unwrap();
        assert_eq!(parsed.routing_tag(), tag);
        let other = TokenString::generate_routed(&prefix(), tag);
        assert_ne!(other.expose_secret(), text);
        let id = routed_id(tag);
        assert_eq!(id.len(), 26);
        assert!(id.starts_with(&format!("{tag}_")));
    }

    #[test]
    fn generated_tokens_parse_and_have_the_documented_shape() {
        let token = TokenString::generate(&prefix());
        let text = token.expose_secret();
        assert_eq!(text.len(), 5 + 1 + 43 + 6);
        assert!(text.starts_with("durin_"));
        assert_eq!(token.prefix(), "durin");
        assert_eq!(TokenString::parse(text).unwrap().expose_secret(), text);
    }

    #[test]
    fn debug_never_shows_the_token() {
        let token = TokenString::generate(&prefix());
        let shown = format!("{token:?}");
        assert_eq!(shown, "TokenString([redacted])");
        assert!(!shown.contains(&token.expose_secret()[6..20]));
    }

    #[test]
    fn rejects_malformed_tokens() {
        let good = TokenString::generate(&prefix()).expose_secret().to_owned();
        let check = |s: &str, e| assert_eq!(TokenString::parse(s).unwrap_err(), e, "{s}");
        check("", TokenFormatError::Length);
        check("durin_abc", TokenFormatError::Length);
        check(&good.replace('_', "x"), TokenFormatError::MissingSeparator);
        check(&format!("Durin{}", &good[5..]), TokenFormatError::Prefix);
        check(
            &format!("{}!", &good[..good.len() - 1]),
            TokenFormatError::Alphabet,
        );
        check(
            &format!("{}x{}", &good[..good.len()], ""),
            TokenFormatError::Length,
        );
        let mut flipped = good.clone().into_bytes();
        flipped[10] = if flipped[10] == b'a' { b'b' } else { b'a' };
        check(
            std::str::from_utf8(&flipped).unwrap(),
            TokenFormatError::Checksum,
        );
        check(
            &format!("{}_{}", "a".repeat(17), &good[6..]),
            TokenFormatError::Length,
        );
    }

    #[test]
    fn prefixes_are_validated() {
        assert!(TokenPrefix::new("durin").is_ok());
        assert!(TokenPrefix::new("a1").is_ok());
        assert!(TokenPrefix::new("").is_err());
        assert!(TokenPrefix::new("UPPER").is_err());
        assert!(TokenPrefix::new("a_b").is_err());
        assert!(TokenPrefix::new("x".repeat(17)).is_err());
    }

    #[test]
    fn base62_is_fixed_width_and_ordered() {
        let mut s = String::new();
        encode_base62(&[0, 0, 0, 0], 6, &mut s);
        assert_eq!(s, "000000");
        s.clear();
        encode_base62(&u32::MAX.to_be_bytes(), 6, &mut s);
        assert_eq!(s, "4gfFC3");
        s.clear();
        encode_base62(&[0xff; 32], BODY_LEN, &mut s);
        assert_eq!(s.len(), BODY_LEN);
    }

    fn prefix_strategy() -> impl Strategy<Value = TokenPrefix> {
        "[a-z0-9]{1,16}".prop_map(|p| TokenPrefix::new(p).unwrap())
    }

    proptest! {
        #[test]
        fn round_trip(prefix in prefix_strategy()) {
            let token = TokenString::generate(&prefix);
            let parsed = TokenString::parse(token.expose_secret()).unwrap();
            prop_assert_eq!(parsed.expose_secret(), token.expose_secret());
            prop_assert_eq!(parsed.prefix(), prefix.as_str());
        }

        #[test]
        fn every_single_character_change_is_rejected(
            prefix in prefix_strategy(),
            position in any::<prop::sample::Index>(),
            replacement in any::<char>(),
        ) {
            let token = TokenString::generate(&prefix);
            let text = token.expose_secret();
            let i = position.index(text.len());
            let original = text.as_bytes()[i] as char;
            prop_assume!(replacement != original);
            let mut changed = String::with_capacity(text.len() + 4);
            changed.push_str(&text[..i]);
            changed.push(replacement);
            changed.push_str(&text[i + 1..]);
            prop_assert!(TokenString::parse(&changed).is_err(), "accepted {}", changed);
        }

        #[test]
        fn arbitrary_strings_never_panic(s in ".{0,80}") {
            let _ = TokenString::parse(&s);
        }
    }
}
