//! Sessions: one issued token and what durin knows about it.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::{Client, ClientName, ParseError, Timestamp, TokenDigest};

/// The public, random id of a session: 22 base62 characters, or 26 (`<tag>_<22 base62>`)
/// when it carries its user's [`crate::RoutingTag`]; safe in URLs and logs.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionId(String);

impl SessionId {
    /// A new random id (128 bits from the OS CSPRNG).
    pub fn generate() -> Self {
        SessionId(crate::token::random_id())
    }

    /// A new random id (128 bits) that carries `tag`: `<tag>_<22 base62>`, 26
    /// characters, so that a sharded store finds the session's partition from the id
    /// alone (see [`crate::RoutingTag`]).
    pub fn generate_routed(tag: crate::RoutingTag) -> Self {
        SessionId(crate::token::routed_id(tag))
    }

    /// The routing tag of an id made by [`SessionId::generate_routed`]; `None` for
    /// other ids.
    pub fn routing_tag(&self) -> Option<crate::RoutingTag> {
        let bytes = self.0.as_bytes();
        if bytes.len() != crate::RoutingTag::LEN + 1 + 22 || bytes[crate::RoutingTag::LEN] != b'_' {
            return None;
        }
        crate::RoutingTag::parse(&self.0[..crate::RoutingTag::LEN])
    }

    /// The longest session id accepted (a store column size).
    pub const MAX_LEN: usize = 64;

    /// Wraps an id read back from a store or a URL. Ids are opaque: no validation
    /// beyond length and alphabet (1 to 64 characters of `[A-Za-z0-9_-]`).
    ///
    /// # Errors
    /// [`ParseError`] saying what is accepted.
    pub fn new(id: impl Into<String>) -> Result<Self, ParseError> {
        let id = id.into();
        if id.is_empty() || id.len() > Self::MAX_LEN {
            return Err(ParseError::new("a session id must be 1 to 64 characters"));
        }
        if !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(ParseError::new(
                "a session id holds only letters, digits, '-' and '_'",
            ));
        }
        Ok(SessionId(id))
    }

    /// The id text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({})", self.0)
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The id of a user, as the application knows it, kept as a string.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(String);

impl UserId {
    /// The longest user id accepted (a store column size).
    pub const MAX_LEN: usize = 255;

    /// Wraps a user id: 1 to 255 bytes of any text.
    ///
    /// # Errors
    /// [`ParseError`] when it is empty or longer than [`UserId::MAX_LEN`] bytes.
    pub fn new(id: impl Into<String>) -> Result<Self, ParseError> {
        let id = id.into();
        if id.is_empty() || id.len() > Self::MAX_LEN {
            return Err(ParseError::new("a user id must be 1 to 255 bytes"));
        }
        Ok(UserId(id))
    }

    /// The id text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserId({:?})", self.0)
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The name of a named personal token ("laptop", "CI deploy"): 1 to 64 characters,
/// unique among a user's live named tokens.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TokenName(String);

impl TokenName {
    /// The longest name accepted, in characters.
    pub const MAX_CHARS: usize = 64;

    /// Validates a name: 1 to 64 characters, not blank, no control characters.
    /// Surrounding whitespace is kept out of the name.
    ///
    /// # Errors
    /// [`ParseError`] saying what is wrong.
    pub fn new(name: impl Into<String>) -> Result<Self, ParseError> {
        let name = name.into();
        let trimmed = name.trim();
        if trimmed.is_empty() {
            return Err(ParseError::new("This field may not be blank."));
        }
        if trimmed.chars().count() > Self::MAX_CHARS {
            return Err(ParseError::new(
                "Ensure this field has no more than 64 characters.",
            ));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(ParseError::new(
                "A token name may not hold control characters.",
            ));
        }
        // Invisible characters (bidi overrides, zero-width ones) could make a name
        // display as another ("ci" beside "c\u{200B}i") or reorder what is shown
        // around it.
        if trimmed.chars().any(is_format_character) {
            return Err(ParseError::new(
                "A token name may not hold invisible formatting characters.",
            ));
        }
        Ok(TokenName(trimmed.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Unicode format characters (general category Cf) and the other invisible ones that
/// matter in a displayed name: soft hyphen, Arabic letter mark, Mongolian vowel
/// separator, zero-width space/joiners, directional marks, embeddings, overrides and
/// isolates, word joiner and invisible operators, the byte-order mark, interlinear
/// annotation marks, and the tag characters.
fn is_format_character(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{E0000}'..='\u{E007F}'
    )
}

impl TryFrom<String> for TokenName {
    type Error = ParseError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        TokenName::new(value)
    }
}

impl From<TokenName> for String {
    fn from(value: TokenName) -> Self {
        value.0
    }
}

impl fmt::Debug for TokenName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenName({:?})", self.0)
    }
}

impl fmt::Display for TokenName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a token travels: in the `Authorization` header or in a cookie. A token issued for
/// one transport is refused on the other unless the service is configured otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// `Authorization: Bearer ...`.
    #[default]
    Header,
    /// An HttpOnly cookie.
    Cookie,
}

impl Transport {
    /// `"header"` or `"cookie"`, as stores keep it.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Header => "header",
            Transport::Cookie => "cookie",
        }
    }

    /// The inverse of [`Transport::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "header" => Some(Transport::Header),
            "cookie" => Some(Transport::Cookie),
            _ => None,
        }
    }
}

/// The refresh token of a session (only the digest is stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshState {
    /// Digest of the current refresh token.
    pub digest: TokenDigest,
    /// When the current refresh token stops working.
    pub expires_at: Timestamp,
}

/// One issued token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Public random id.
    pub id: SessionId,
    /// Whose token it is.
    pub user_id: UserId,
    /// The client it was issued for.
    pub client: ClientName,
    /// Keyed digest of the token (the token itself is never stored).
    pub digest: TokenDigest,
    /// When it was issued.
    pub created_at: Timestamp,
    /// When it stops working; `None` = never.
    pub expires_at: Option<Timestamp>,
    /// When its expiry last moved forward.
    pub renewed_at: Option<Timestamp>,
    /// When it was last used (only when the service tracks it; debounced).
    pub last_used_at: Option<Timestamp>,
    /// Scopes it carries.
    pub scopes: Vec<String>,
    /// Whatever the application stored at login: device, address, user agent...
    pub context: serde_json::Map<String, serde_json::Value>,
    /// Header or cookie.
    pub transport: Transport,
    /// When it was revoked, for stores kept in audit mode; revoked sessions never
    /// authenticate.
    pub revoked_at: Option<Timestamp>,
    /// The refresh token, for clients that issue one.
    pub refresh: Option<RefreshState>,
    /// The name of a named personal token; `None` for login sessions and API keys.
    #[serde(default)]
    pub name: Option<TokenName>,
}

impl Session {
    /// Whether the session has expired at `now`.
    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }

    /// Whether the session can authenticate at `now`: neither expired nor revoked.
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && !self.is_expired(now)
    }

    /// Whether `TokenStore::purge_expired(before, ..)` may delete this session: its access
    /// token and its refresh token (if any) both expired before `before`, or it was revoked
    /// before `before`.
    pub fn is_purgeable(&self, before: Timestamp) -> bool {
        let expired = self.expires_at.is_some_and(|at| at < before)
            && self.refresh.as_ref().is_none_or(|r| r.expires_at < before);
        expired || self.revoked_at.is_some_and(|at| at < before)
    }

    /// Whether the session carries `scope` (`*` carries every scope).
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == "*" || s == scope)
    }
}

/// A successful authentication: who is calling, with which token, through which client.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// The session the token belongs to (after any sliding renewal). Shared with the
    /// token cache: a request clones no session.
    pub session: Arc<Session>,
    /// The client's policy.
    pub client: Arc<Client>,
}

impl Authenticated {
    /// The user.
    pub fn user_id(&self) -> &UserId {
        &self.session.user_id
    }

    /// Whether the token carries `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.session.has_scope(scope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_names_refuse_invisible_characters() {
        for name in [
            "c\u{200B}i",
            "\u{202E}ci",
            "ci\u{2066}x",
            "a\u{FEFF}",
            "x\u{E0041}",
        ] {
            assert!(TokenName::new(name).is_err(), "{name:?}");
        }
        for name in ["ci deploy", "déploiement", "部署", "ci-1"] {
            assert!(TokenName::new(name).is_ok(), "{name:?}");
        }
    }
}
