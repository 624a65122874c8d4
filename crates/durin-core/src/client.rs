//! API clients: the web app, the phone app, the CLI, the API key — each with its own
//! token lifetime, throttle rate and renewal policy.

use std::fmt;
use std::num::NonZeroU32;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{ParseError, Rate, Timestamp, TokenPrefix};

/// A client name: 1 to 64 characters of letters, digits, `-`, `_` and `.`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClientName(String);

impl ClientName {
    /// The longest client name.
    pub const MAX_LEN: usize = 64;

    /// Validates a client name.
    ///
    /// # Errors
    /// When the name is empty, longer than 64 characters, or holds a character other
    /// than ASCII letters, digits, `-`, `_` and `.`.
    pub fn new(name: impl Into<String>) -> Result<Self, ParseError> {
        let name = name.into();
        if name.is_empty() || name.len() > Self::MAX_LEN {
            return Err(ParseError::new(format!(
                "invalid client name {name:?}: it must be 1 to 64 characters"
            )));
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return Err(ParseError::new(format!(
                "invalid client name {name:?}: use only letters, digits, '-', '_' and '.'"
            )));
        }
        Ok(ClientName(name))
    }

    /// The name text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ClientName {
    type Error = ParseError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        ClientName::new(value)
    }
}

impl From<ClientName> for String {
    fn from(value: ClientName) -> Self {
        value.0
    }
}

impl std::str::FromStr for ClientName {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ClientName::new(s)
    }
}

impl fmt::Debug for ClientName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl fmt::Display for ClientName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// When a session's expiry moves forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Renewal {
    /// Never: the token dies at its first expiry. `renew` is refused.
    None,
    /// When the client asks (`POST refresh/`), as in django-rest-durin. The default.
    #[default]
    Explicit,
    /// On use: each authentication pushes the expiry to now + TTL, written at most once
    /// per `min_interval` (the debounce that keeps reads from becoming writes). Explicit
    /// renewal works too.
    Sliding {
        /// The least time between two expiry writes for one session.
        #[serde(with = "millis")]
        min_interval: Duration,
    },
}

/// The default lifetime of a client's tokens when none is given: one day, as in durin.
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(86_400);

/// An API client and its token policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    /// The unique name (`web`, `mobile`, `cli`, ...).
    pub name: ClientName,
    /// Lifetime of a token from issue (and from each renewal); `None` = never expires.
    #[serde(with = "opt_millis")]
    pub token_ttl: Option<Duration>,
    /// Per-(user, client) rate for routes that opt into throttling; `None` = the
    /// service's default rate, if any.
    pub throttle_rate: Option<Rate>,
    /// Live tokens one user may hold for this client; a login beyond it evicts the
    /// oldest (an API key or named token beyond it is refused). Default 1,
    /// django-rest-durin's "one token per user per client".
    pub max_tokens_per_user: NonZeroU32,
    /// When the expiry moves forward.
    pub renewal: Renewal,
    /// Absolute cap from creation that no renewal passes; `None` = no cap.
    #[serde(with = "opt_millis")]
    pub max_lifetime: Option<Duration>,
    /// When set, login also issues a refresh token valid this long.
    #[serde(with = "opt_millis")]
    pub refresh_ttl: Option<Duration>,
    /// Scopes a token of this client may carry; empty = no restriction (the token gets
    /// the scopes it asks for). `*` grants every scope.
    pub scopes: Vec<String>,
    /// Prefix of the tokens issued for this client; `None` = the service's prefix.
    pub prefix: Option<TokenPrefix>,
}

impl Client {
    /// A client with durin's defaults: 1-day tokens, no throttle, one token per user,
    /// explicit renewal, no lifetime cap, no refresh token, no scope restriction.
    pub fn new(name: ClientName) -> Self {
        Client {
            name,
            token_ttl: Some(DEFAULT_TOKEN_TTL),
            throttle_rate: None,
            max_tokens_per_user: NonZeroU32::MIN,
            renewal: Renewal::Explicit,
            max_lifetime: None,
            refresh_ttl: None,
            scopes: Vec::new(),
            prefix: None,
        }
    }

    /// Sets the token lifetime (`None` = never expires).
    #[must_use]
    pub fn with_token_ttl(mut self, ttl: Option<Duration>) -> Self {
        self.token_ttl = ttl;
        self
    }

    /// Sets the throttle rate.
    #[must_use]
    pub fn with_throttle_rate(mut self, rate: Option<Rate>) -> Self {
        self.throttle_rate = rate;
        self
    }

    /// Sets how many live tokens one user may hold (at least 1).
    #[must_use]
    pub fn with_max_tokens_per_user(mut self, max: NonZeroU32) -> Self {
        self.max_tokens_per_user = max;
        self
    }

    /// Sets the renewal policy.
    #[must_use]
    pub fn with_renewal(mut self, renewal: Renewal) -> Self {
        self.renewal = renewal;
        self
    }

    /// Sets the absolute lifetime cap.
    #[must_use]
    pub fn with_max_lifetime(mut self, cap: Option<Duration>) -> Self {
        self.max_lifetime = cap;
        self
    }

    /// Issues refresh tokens valid for `ttl` (`None` = no refresh tokens).
    #[must_use]
    pub fn with_refresh_ttl(mut self, ttl: Option<Duration>) -> Self {
        self.refresh_ttl = ttl;
        self
    }

    /// Sets the allowed scopes.
    #[must_use]
    pub fn with_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the token prefix for this client.
    #[must_use]
    pub fn with_prefix(mut self, prefix: Option<TokenPrefix>) -> Self {
        self.prefix = prefix;
        self
    }

    /// Whether a token of this client may carry `scope`.
    pub fn allows_scope(&self, scope: &str) -> bool {
        self.scopes.is_empty() || self.scopes.iter().any(|s| s == "*" || s == scope)
    }

    /// The expiry of a token of this client for a session created at `created` and
    /// (re)newed at `now`: now + TTL, capped at created + max lifetime; `None` = never.
    pub fn expiry(&self, created: Timestamp, now: Timestamp) -> Option<Timestamp> {
        let ttl_end = self.token_ttl.map(|ttl| now.saturating_add(ttl));
        let cap = self.max_lifetime.map(|cap| created.saturating_add(cap));
        match (ttl_end, cap) {
            (Some(end), Some(cap)) => Some(end.min(cap)),
            (end, cap) => end.or(cap),
        }
    }

    /// The expiry of a refresh token issued at `now` for a session created at
    /// `created`: now + refresh TTL, capped likewise.
    pub fn refresh_expiry(&self, created: Timestamp, now: Timestamp) -> Timestamp {
        let end = now.saturating_add(self.refresh_ttl.unwrap_or_default());
        match self.max_lifetime {
            Some(cap) => end.min(created.saturating_add(cap)),
            None => end,
        }
    }

    /// The prefix of this client's tokens: its own, else `default`.
    pub fn prefix_or<'a>(&'a self, default: &'a TokenPrefix) -> &'a TokenPrefix {
        self.prefix.as_ref().unwrap_or(default)
    }
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

mod opt_millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&(d.as_millis() as u64)),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_millis))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_names_are_validated() {
        assert!(ClientName::new("web").is_ok());
        assert!(ClientName::new("mobile-app_v2.1").is_ok());
        assert!(ClientName::new("").is_err());
        assert!(ClientName::new("x".repeat(65)).is_err());
        assert!(
            ClientName::new("has space")
                .unwrap_err()
                .to_string()
                .contains("letters")
        );
    }

    #[test]
    fn defaults_follow_durin() {
        let c = Client::new(ClientName::new("web").unwrap());
        assert_eq!(c.token_ttl, Some(Duration::from_secs(86_400)));
        assert_eq!(c.max_tokens_per_user.get(), 1);
        assert_eq!(c.renewal, Renewal::Explicit);
        assert!(c.allows_scope("anything"));
        let scoped = c.with_scopes(["read"]);
        assert!(scoped.allows_scope("read"));
        assert!(!scoped.allows_scope("write"));
    }

    #[test]
    fn clients_round_trip_through_json() {
        let c = Client::new(ClientName::new("cli").unwrap())
            .with_token_ttl(None)
            .with_throttle_rate(Some("5/m".parse().unwrap()))
            .with_renewal(Renewal::Sliding {
                min_interval: Duration::from_secs(60),
            })
            .with_refresh_ttl(Some(Duration::from_secs(3600)))
            .with_prefix(Some(TokenPrefix::new("cli").unwrap()));
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<Client>(&json).unwrap(), c);
    }
}
