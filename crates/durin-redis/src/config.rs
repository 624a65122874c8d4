//! Settings shared by [`crate::RedisStore`] and [`crate::RedisThrottle`].

use std::time::Duration;

use redis::aio::ConnectionManagerConfig;

use crate::Error;

/// Settings of a [`crate::RedisStore`] or [`crate::RedisThrottle`]: the key prefix, the
/// grace period of expired sessions, and the connection's timeouts.
///
/// ```
/// use std::time::Duration;
/// use durin_redis::RedisConfig;
///
/// let config = RedisConfig::new()
///     .with_prefix("myapp:auth")
///     .with_response_timeout(Duration::from_millis(250));
/// assert_eq!(config.prefix(), "myapp:auth");
/// assert_eq!(config.grace(), Duration::from_secs(3600));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisConfig {
    prefix: String,
    grace: Duration,
    connection_timeout: Duration,
    response_timeout: Duration,
    reconnect_attempts: usize,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            prefix: "durin".to_owned(),
            grace: Duration::from_secs(3600),
            connection_timeout: Duration::from_secs(1),
            response_timeout: Duration::from_secs(1),
            reconnect_attempts: 1,
        }
    }
}

impl RedisConfig {
    /// The defaults: prefix `durin`, grace 1 hour, connection and response timeouts of
    /// 1 second, 1 reconnection retry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The prefix of every key (`{prefix}:s:<digest>`, ...). Default: `durin`.
    ///
    /// On Redis Cluster, make it a hash tag such as `{durin}` so that every key shares
    /// one slot (see the crate's "Redis Cluster" notes).
    #[must_use]
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long Redis keeps a session after it became purgeable (expired, with its
    /// refresh token if any, or revoked), so that an expired token still answers
    /// "expired" rather than "invalid". Match `DurinBuilder::expired_grace`.
    /// Default: 1 hour.
    #[must_use]
    pub fn with_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// How long one connection attempt may take. Default: 1 second.
    #[must_use]
    pub fn with_connection_timeout(mut self, timeout: Duration) -> Self {
        self.connection_timeout = timeout;
        self
    }

    /// How long one command may wait for its answer before failing as unavailable.
    /// Default: 1 second.
    #[must_use]
    pub fn with_response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// How many times a lost connection is retried (with exponential backoff from
    /// 50 ms) before the waiting commands fail; the next command starts over. Default: 1.
    #[must_use]
    pub fn with_reconnect_attempts(mut self, attempts: usize) -> Self {
        self.reconnect_attempts = attempts;
        self
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The grace period of purgeable sessions.
    pub fn grace(&self) -> Duration {
        self.grace
    }

    /// The connection timeout.
    pub fn connection_timeout(&self) -> Duration {
        self.connection_timeout
    }

    /// The response timeout.
    pub fn response_timeout(&self) -> Duration {
        self.response_timeout
    }

    /// The reconnection retries.
    pub fn reconnect_attempts(&self) -> usize {
        self.reconnect_attempts
    }

    /// The [`ConnectionManagerConfig`] these settings describe, for building a
    /// [`redis::aio::ConnectionManager`] of your own to share.
    pub fn manager_config(&self) -> ConnectionManagerConfig {
        ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.connection_timeout))
            .set_response_timeout(Some(self.response_timeout))
            .set_number_of_retries(self.reconnect_attempts)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500))
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        if self.prefix.is_empty() {
            return Err(Error::Config("the key prefix must not be empty".into()));
        }
        if self
            .prefix
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(Error::Config(format!(
                "the key prefix {:?} holds whitespace or control characters",
                self.prefix
            )));
        }
        if self.response_timeout.is_zero() || self.connection_timeout.is_zero() {
            return Err(Error::Config("timeouts must be positive".into()));
        }
        Ok(())
    }

    pub(crate) fn grace_millis(&self) -> i64 {
        i64::try_from(self.grace.as_millis()).unwrap_or(i64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_validated() {
        assert!(RedisConfig::new().validate().is_ok());
        assert!(RedisConfig::new().with_prefix("{durin}").validate().is_ok());
        for bad in ["", "has space", "tab\t"] {
            let err = RedisConfig::new().with_prefix(bad).validate().unwrap_err();
            assert!(matches!(err, Error::Config(_)), "{bad:?}");
        }
        let zero = RedisConfig::new().with_response_timeout(Duration::ZERO);
        assert!(zero.validate().is_err());
    }
}
