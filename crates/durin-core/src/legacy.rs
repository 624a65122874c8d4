//! Tokens brought over from Django: django-rest-durin (64 hex), DRF's
//! `rest_framework.authtoken` (40 hex) and django-rest-knox (an optional `TOKEN_PREFIX`
//! and 64 hex).
//!
//! These tokens carry no prefix and no checksum, so a typo cannot be told from a real
//! token before the store is asked: accepting them is opt-in (`HttpConfig`'s
//! `accept_legacy_tokens`). They are stored like any other token:
//!
//! - django-rest-durin and DRF keep the plaintext in their databases; the importer
//!   stores only its keyed digest ([`TokenHasher::digest_legacy`]: HMAC-SHA-256 of the
//!   token text under the current key), never the text.
//! - knox keeps only `SHA-512(token)` in hex, so the importer cannot key it: the row is
//!   stored under [`DigestScheme::LegacyKnoxSha512V1`] ([`knox_legacy_digest`]), and
//!   the first authentication with the token re-keys the session to the current key, as
//!   a key rotation does. The knox digests disappear as users come back.
//!
//! [`DigestScheme::LegacyKnoxSha512V1`]: crate::DigestScheme::LegacyKnoxSha512V1

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest as _, Sha256, Sha512};

use crate::{TokenDigest, TokenFormatError, TokenHasher};

/// knox's longest `TOKEN_PREFIX` (`CONSTANTS.MAXIMUM_TOKEN_PREFIX_LENGTH`).
const MAX_KNOX_PREFIX: usize = 10;
/// The longest legacy token: a knox prefix and 64 hex characters.
const ANY_KNOX_MAX: usize = MAX_KNOX_PREFIX + 64;
/// The label hashed before knox's digest, so the legacy scheme cannot collide with
/// another use of SHA-256; a later scheme gets a new label.
const KNOX_LABEL: &[u8] = b"durin legacy knox-sha512 v1\0";

/// A legacy token as a client presents it: 40 or 64 hex characters (DRF, django-rest-durin,
/// knox), or knox's `TOKEN_PREFIX` (up to 10 characters of `[A-Za-z0-9_.-]`) followed by
/// 64 hex characters.
///
/// Like [`crate::TokenString`], the text lives in a [`SecretString`]: `Debug` prints
/// `LegacyToken([redacted])` and there is no `Display`.
#[derive(Clone)]
pub struct LegacyToken {
    secret: SecretString,
}

impl LegacyToken {
    /// Checks the shape of a legacy token (no I/O). This only bounds what reaches the
    /// store: without a checksum, a well-shaped typo is found unknown by a lookup.
    ///
    /// # Errors
    /// [`TokenFormatError::Length`] or [`TokenFormatError::Alphabet`].
    pub fn parse(text: &str) -> Result<Self, TokenFormatError> {
        let hex = |s: &str| s.bytes().all(|b| b.is_ascii_hexdigit());
        let len = text.len();
        let ok = match len {
            40 | 64 => hex(text),
            65..=ANY_KNOX_MAX => {
                let (prefix, body) = text.split_at(len - 64);
                prefix
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
                    && hex(body)
            }
            _ => return Err(TokenFormatError::Length),
        };
        if !ok {
            return Err(TokenFormatError::Alphabet);
        }
        Ok(LegacyToken {
            secret: SecretString::from(text.to_owned()),
        })
    }

    /// The token text.
    ///
    /// # Security
    /// This is the bearer credential itself: never log or store it.
    pub fn expose_secret(&self) -> &str {
        self.secret.expose_secret()
    }

    /// The digest a knox row of this token was imported under: knox's SHA-512 hex of
    /// the token's UTF-8 bytes, through [`knox_legacy_digest`].
    pub fn knox_digest(&self) -> TokenDigest {
        let sha512 = Sha512::digest(self.expose_secret().as_bytes());
        let mut hex = String::with_capacity(128);
        for b in sha512 {
            hex.push_str(&format!("{b:02x}"));
        }
        knox_legacy_digest(&hex).expect("128 hex characters")
    }
}

impl fmt::Debug for LegacyToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LegacyToken([redacted])")
    }
}

/// The [`crate::DigestScheme::LegacyKnoxSha512V1`] digest of a knox row: SHA-256 over a
/// versioned label and the row's `digest` column (128 hex characters, either case;
/// lower-cased first). `None` when `sha512_hex` is not 128 hex characters.
pub fn knox_legacy_digest(sha512_hex: &str) -> Option<TokenDigest> {
    if sha512_hex.len() != 128 || !sha512_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut hasher = Sha256::new();
    hasher.update(KNOX_LABEL);
    hasher.update(sha512_hex.to_ascii_lowercase().as_bytes());
    Some(TokenDigest::from_bytes(hasher.finalize().into()))
}

impl TokenHasher {
    /// The digest of a legacy token under the current key: what the importer stores for
    /// django-rest-durin and DRF tokens, and what a re-keyed knox session ends up under.
    pub fn digest_legacy(&self, token: &LegacyToken) -> TokenDigest {
        self.current().digest(token.expose_secret())
    }

    /// The digests of a legacy token under each previous key.
    pub fn previous_legacy_digests<'a>(
        &'a self,
        token: &'a LegacyToken,
    ) -> impl Iterator<Item = TokenDigest> + 'a {
        self.previous()
            .iter()
            .map(move |key| key.digest(token.expose_secret()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DigestKey;

    const DURIN: &str = "3f1c0a9d7e5b2c4a6f8e0d1c2b3a49586776a5b4c3d2e1f00112233445566778";

    #[test]
    fn parses_the_three_libraries_shapes() {
        assert!(LegacyToken::parse(DURIN).is_ok());
        assert!(LegacyToken::parse(&DURIN[..40]).is_ok());
        assert!(LegacyToken::parse(&format!("app_{DURIN}")).is_ok());
        assert_eq!(
            LegacyToken::parse(&DURIN[..39]).unwrap_err(),
            TokenFormatError::Length
        );
        assert_eq!(
            LegacyToken::parse(&format!("{}g", &DURIN[..63])).unwrap_err(),
            TokenFormatError::Alphabet
        );
        assert_eq!(
            LegacyToken::parse(&format!("a b{DURIN}")).unwrap_err(),
            TokenFormatError::Alphabet
        );
        assert_eq!(
            LegacyToken::parse(&format!("{}{DURIN}", "p".repeat(11))).unwrap_err(),
            TokenFormatError::Length
        );
        assert_eq!(
            format!("{:?}", LegacyToken::parse(DURIN).unwrap()),
            "LegacyToken([redacted])"
        );
    }

    #[test]
    fn knox_digest_follows_knox_and_is_labelled() {
        // knox: hashlib.sha512(token.encode()).hexdigest()
        let token = LegacyToken::parse(DURIN).unwrap();
        let sha512: String = Sha512::digest(DURIN.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(knox_legacy_digest(&sha512), Some(token.knox_digest()));
        assert_eq!(
            knox_legacy_digest(&sha512.to_ascii_uppercase()),
            Some(token.knox_digest())
        );
        assert_ne!(
            token.knox_digest().as_bytes()[..],
            Sha256::digest(sha512.as_bytes())[..]
        );
        assert_eq!(knox_legacy_digest("abc"), None);
    }

    #[test]
    fn legacy_digests_are_keyed() {
        let token = LegacyToken::parse(DURIN).unwrap();
        let a = TokenHasher::new(DigestKey::new("a", vec![1u8; 32]).unwrap())
            .with_previous(DigestKey::new("b", vec![2u8; 32]).unwrap());
        let b = TokenHasher::new(DigestKey::new("b", vec![2u8; 32]).unwrap());
        assert_ne!(a.digest_legacy(&token), b.digest_legacy(&token));
        assert_eq!(
            a.previous_legacy_digests(&token).next(),
            Some(b.digest_legacy(&token))
        );
    }
}
