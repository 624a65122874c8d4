//! Failures as HTTP answers: status, JSON body, headers.

use durin_core::{AuthError, retry_after_secs};
use serde_json::{Value, json};

/// The exact `detail` messages of the contract (django-rest-durin's).
pub mod messages {
    /// No credentials on a protected route.
    pub const NOT_AUTHENTICATED: &str = "Authentication credentials were not provided.";
    /// A keyword with no token.
    pub const NO_CREDENTIALS: &str = "Invalid token header. No credentials provided.";
    /// A token with spaces in it.
    pub const SPACES: &str = "Invalid token header. Token string should not contain spaces.";
    /// Unknown, malformed, bad checksum, revoked.
    pub const INVALID_TOKEN: &str = "Invalid token.";
    /// Expired.
    pub const EXPIRED: &str = "The given token has expired.";
    /// Client or scope not allowed.
    pub const FORBIDDEN: &str = "You do not have permission to perform this action.";
    /// The store is down.
    pub const UNAVAILABLE: &str = "Authentication service unavailable.";
    /// Unknown or foreign session id, no API key, no API-access client.
    pub const NOT_FOUND: &str = "Not found.";
    /// Deleting the current session.
    pub const CURRENT_SESSION: &str =
        "Can't delete token if the request is authed with it. Use logout instead.";
    /// A second API key.
    pub const API_KEY_EXISTS: &str = "An API token was already issued to you.";
    /// 409: what the caller asked to create exists already.
    pub const CONFLICT: &str = "Already exists.";
    /// Login without a client.
    pub const NO_CLIENT: &str = "No client specified.";
    /// Login with an unknown client.
    pub const UNKNOWN_CLIENT: &str = "No client with that name.";
    /// Wrong username or password.
    pub const BAD_CREDENTIALS: &str = "Unable to log in with provided credentials.";
    /// A required field is missing.
    pub const REQUIRED: &str = "This field is required.";
    /// A required field is blank.
    pub const BLANK: &str = "This field may not be blank.";
    /// A hook refused the user (DRF's message for an inactive user).
    pub const USER_INACTIVE: &str = "User inactive or deleted.";
    /// A cookie-authenticated unsafe request without the CSRF defence.
    pub const CSRF: &str = "CSRF Failed: Origin checking failed.";
    /// A request body over its route's limit.
    pub const BODY_TOO_LARGE: &str = "Request body too large.";
    /// The request body could not be read.
    pub const MALFORMED_BODY: &str = "Malformed request.";
    /// A username longer than `UserId::MAX_LEN` (255) bytes (DRF's `max_length` message).
    pub const USERNAME_TOO_LONG: &str = "Ensure this field has no more than 255 characters.";

    /// `Request was throttled. Expected available in N seconds.`
    pub fn throttled(seconds: u64) -> String {
        format!("Request was throttled. Expected available in {seconds} seconds.")
    }
}

/// The `error` parameter of a 401's `WWW-Authenticate` (RFC 6750).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Challenge {
    /// No credentials: no `error` parameter.
    Plain,
    /// A malformed `Authorization` header.
    InvalidRequest,
    /// An invalid or expired token.
    InvalidToken,
}

/// One failure, ready to send: status, JSON body and extra headers.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpError {
    /// The HTTP status.
    pub status: u16,
    /// The JSON body (`{"detail": ...}` unless the contract says otherwise).
    pub body: Value,
    /// For a 401: the `error` of `WWW-Authenticate`, rendered by [`HttpError::headers`].
    pub challenge: Option<Challenge>,
    /// For a 429: whole seconds for `Retry-After`.
    pub retry_after: Option<u64>,
}

impl std::fmt::Display for HttpError {
    /// `401: Invalid token.` (the `detail`), or the status and the JSON body.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.body.get("detail").and_then(Value::as_str) {
            Some(detail) => write!(f, "{}: {detail}", self.status),
            None => write!(f, "{}: {}", self.status, self.body),
        }
    }
}

impl std::error::Error for HttpError {}

impl HttpError {
    /// A `{"detail": message}` error.
    pub fn detail(status: u16, message: impl Into<String>) -> Self {
        HttpError {
            status,
            body: json!({ "detail": message.into() }),
            challenge: None,
            retry_after: None,
        }
    }

    /// A 400 with a free-form body (field errors).
    pub fn bad_request(body: Value) -> Self {
        HttpError {
            status: 400,
            body,
            challenge: None,
            retry_after: None,
        }
    }

    /// A 401 with a challenge.
    pub fn unauthorized(message: &str, challenge: Challenge) -> Self {
        HttpError {
            challenge: Some(challenge),
            ..HttpError::detail(401, message)
        }
    }

    /// 401 `Authentication credentials were not provided.`
    pub fn not_authenticated() -> Self {
        HttpError::unauthorized(messages::NOT_AUTHENTICATED, Challenge::Plain)
    }

    /// 403 with the permission message.
    pub fn forbidden() -> Self {
        HttpError::detail(403, messages::FORBIDDEN)
    }

    /// 404 `Not found.`
    pub fn not_found() -> Self {
        HttpError::detail(404, messages::NOT_FOUND)
    }

    /// 429 with the throttle message and `Retry-After`.
    pub fn throttled(retry_after: std::time::Duration) -> Self {
        let seconds = retry_after_secs(retry_after);
        HttpError {
            retry_after: Some(seconds),
            ..HttpError::detail(429, messages::throttled(seconds))
        }
    }

    /// 503 `Authentication service unavailable.`
    pub fn unavailable() -> Self {
        HttpError::detail(503, messages::UNAVAILABLE)
    }

    /// The headers to send besides `Content-Type: application/json`:
    /// `WWW-Authenticate` on a 401 (naming `keyword`, with `realm`), `Retry-After` on a
    /// 429.
    pub fn headers(&self, keyword: &str, realm: &str) -> Vec<(&'static str, String)> {
        let mut headers = Vec::new();
        if let Some(challenge) = self.challenge {
            let error = match challenge {
                Challenge::Plain => String::new(),
                Challenge::InvalidRequest => ", error=\"invalid_request\"".to_owned(),
                Challenge::InvalidToken => ", error=\"invalid_token\"".to_owned(),
            };
            headers.push((
                "www-authenticate",
                format!("{keyword} realm=\"{realm}\"{error}"),
            ));
        }
        if let Some(seconds) = self.retry_after {
            headers.push(("retry-after", seconds.to_string()));
        }
        headers
    }

    /// The JSON body as bytes.
    pub fn body_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&self.body).unwrap_or_else(|_| b"{}".to_vec())
    }
}

impl From<AuthError> for HttpError {
    /// The contract's answer for each service error; the precise reason is logged at
    /// debug (never the token), server failures at warn.
    fn from(error: AuthError) -> Self {
        match &error {
            AuthError::Unavailable(source) => {
                tracing::warn!(error = %source, "store unavailable");
            }
            other => tracing::debug!(reason = ?other, "request refused"),
        }
        match error {
            AuthError::InvalidToken(_) => {
                HttpError::unauthorized(messages::INVALID_TOKEN, Challenge::InvalidToken)
            }
            AuthError::Expired => {
                HttpError::unauthorized(messages::EXPIRED, Challenge::InvalidToken)
            }
            AuthError::Vetoed(_) => {
                HttpError::unauthorized(messages::USER_INACTIVE, Challenge::InvalidToken)
            }
            AuthError::Forbidden | AuthError::RenewalNotAllowed => HttpError::forbidden(),
            AuthError::Throttled { retry_after } => HttpError::throttled(retry_after),
            AuthError::UnknownClient => HttpError::detail(400, messages::UNKNOWN_CLIENT),
            AuthError::NotFound | AuthError::NotConfigured(_) => HttpError::not_found(),
            AuthError::CurrentSession => HttpError::detail(400, messages::CURRENT_SESSION),
            AuthError::AlreadyExists => HttpError::detail(400, messages::API_KEY_EXISTS),
            AuthError::Conflict(_) => HttpError::detail(409, messages::CONFLICT),
            AuthError::Unavailable(_) => HttpError::unavailable(),
            // AuthError is non-exhaustive: a future variant is a server-side surprise.
            _ => HttpError::detail(500, "Internal server error."),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn throttled_rounds_up_and_sets_retry_after() {
        let e = HttpError::throttled(Duration::from_millis(1500));
        assert_eq!(e.status, 429);
        assert_eq!(
            e.body["detail"],
            "Request was throttled. Expected available in 2 seconds."
        );
        assert_eq!(
            e.headers("Bearer", "api"),
            [("retry-after", "2".to_owned())]
        );
        assert_eq!(HttpError::throttled(Duration::ZERO).retry_after, Some(1));
    }

    #[test]
    fn unauthorized_names_the_keyword_and_error() {
        let e: HttpError = AuthError::Expired.into();
        assert_eq!(e.status, 401);
        assert_eq!(
            e.headers("Bearer", "api"),
            [(
                "www-authenticate",
                "Bearer realm=\"api\", error=\"invalid_token\"".to_owned()
            )]
        );
        let e = HttpError::not_authenticated();
        assert_eq!(
            e.headers("Token", "api")[0].1,
            "Token realm=\"api\"".to_owned()
        );
    }

    #[test]
    fn store_failures_are_503() {
        let e: HttpError =
            AuthError::Unavailable(durin_core::StoreError::unavailable("down")).into();
        assert_eq!(e.status, 503);
        assert_eq!(e.body["detail"], messages::UNAVAILABLE);
    }
}
