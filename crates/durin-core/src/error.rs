//! What can go wrong when authenticating or managing sessions.

use std::time::Duration;

use crate::{StoreError, TokenFormatError};

/// Why a token was refused as invalid; logged at debug, never shown to the client (who
/// sees `Invalid token.` whatever the reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidReason {
    /// The token is malformed (no I/O was done).
    Format(TokenFormatError),
    /// No session has this token.
    Unknown,
    /// The session was revoked.
    Revoked,
    /// The session's client no longer exists.
    ClientGone,
    /// The token came in the header but was issued for the cookie, or the reverse.
    WrongTransport,
    /// A refresh token was presented after it had been rotated; the session is revoked.
    RefreshReused,
}

/// An authentication or session-management failure.
///
/// Caller mistakes (invalid, expired, forbidden, throttled, not found...) are separate
/// from server failures ([`AuthError::Unavailable`]): the HTTP layers map the former to
/// 4xx and the latter to 503, never 401.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The token is unknown, malformed or revoked (`Invalid token.`).
    #[error("invalid token")]
    InvalidToken(InvalidReason),
    /// The token has expired (`The given token has expired.`).
    #[error("token has expired")]
    Expired,
    /// The client or a scope does not permit this.
    #[error("forbidden")]
    Forbidden,
    /// Too many requests; try again after `retry_after`.
    #[error("throttled; retry after {retry_after:?}")]
    Throttled {
        /// How long until the next request would be admitted.
        retry_after: Duration,
    },
    /// An event hook vetoed the authentication (a deactivated user, say).
    #[error("vetoed: {0}")]
    Vetoed(String),
    /// No client with that name.
    #[error("unknown client")]
    UnknownClient,
    /// The session (or API key) does not exist or is not the caller's.
    #[error("not found")]
    NotFound,
    /// The caller tried to revoke the session it is authenticated with.
    #[error("cannot revoke the current session")]
    CurrentSession,
    /// An API key was already issued to this user.
    #[error("an API key already exists")]
    AlreadyExists,
    /// The user holds as many tokens of this client as it allows (named tokens).
    #[error("token limit reached")]
    TokenLimit,
    /// The user holds a live named token of this name.
    #[error("a token with this name already exists")]
    NameTaken,
    /// A requested scope is not one the client offers (named tokens).
    #[error("unknown scope {0:?}")]
    UnknownScope(String),
    /// A named token asks for more distinct scopes than [`crate::NamedToken::MAX_SCOPES`].
    #[error("more than {limit} scopes")]
    TooManyScopes {
        /// The limit.
        limit: usize,
    },
    /// A settings object is larger than the service accepts.
    #[error("settings exceed {limit} bytes")]
    SettingsTooLarge {
        /// The limit, in bytes of JSON.
        limit: usize,
    },
    /// The feature is not configured (no API-access client, say).
    #[error("not configured: {0}")]
    NotConfigured(&'static str),
    /// The client's renewal policy refuses renewal.
    #[error("renewal not allowed for this client")]
    RenewalNotAllowed,
    /// What the caller asked to create exists already (a client of that name): the
    /// caller's mistake, from the store's [`StoreError::Conflict`] (HTTP 409).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The store failed: the server's fault (HTTP 503).
    #[error("authentication service unavailable")]
    Unavailable(StoreError),
}

impl From<StoreError> for AuthError {
    /// A uniqueness conflict is the caller's ([`AuthError::Conflict`]); every other
    /// store failure is the server's ([`AuthError::Unavailable`]).
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => AuthError::Conflict(what),
            e => AuthError::Unavailable(e),
        }
    }
}

impl AuthError {
    /// Whether this is the server's failure rather than the caller's.
    pub fn is_server_error(&self) -> bool {
        matches!(self, AuthError::Unavailable(_))
    }
}

impl From<TokenFormatError> for AuthError {
    fn from(e: TokenFormatError) -> Self {
        AuthError::InvalidToken(InvalidReason::Format(e))
    }
}
