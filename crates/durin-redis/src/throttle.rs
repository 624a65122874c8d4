//! `RedisThrottle`: GCRA in one Lua script per check, on the Redis server's clock.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use durin_core::{Rate, StoreError, Throttle, ThrottleDecision};
use redis::aio::ConnectionManager;

use crate::conn::{Connection, Endpoint};

use crate::error::store_error;
use crate::keys::Keys;
use crate::scripts::SCRIPTS;
use crate::{Error, RedisConfig, RedisStore};

/// What [`RedisThrottle`] answers when Redis cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailureMode {
    /// Admit the request: an outage of Redis does not take the throttled routes down,
    /// at the price of no rate limit while it lasts (a warning is logged per check).
    Open,
    /// Fail the check with [`StoreError::Unavailable`]: `Durin::throttle` answers
    /// `AuthError::Unavailable` and the HTTP layers 503. The default: a rate limit that
    /// guards against brute force should not vanish when Redis does.
    #[default]
    Closed,
}

/// A [`Throttle`] shared by every process that uses the same Redis and key prefix.
///
/// Each check is one `EVALSHA` of a GCRA script (`src/lua/gcra.lua`) that reads the time
/// from Redis (`TIME`), so processes with skewed clocks agree. A rate `N/period` admits
/// a burst of `N` back-to-back requests and then one every `period / N`, like
/// `durin_core::MemoryThrottle`. The state of a key at a rate is one small string key,
/// `{prefix}:t:<N>:<period ns>:<key>`, that expires once it no longer matters.
///
/// When Redis cannot be reached, the [`FailureMode`] decides (default
/// [`FailureMode::Closed`]); other Redis errors always fail the check.
#[derive(Clone)]
pub struct RedisThrottle {
    conn: Connection,
    keys: Keys,
    failure_mode: FailureMode,
}

impl RedisThrottle {
    /// Connects to `url` with the default [`RedisConfig`].
    ///
    /// # Errors
    /// As [`RedisStore::connect`].
    pub async fn connect(url: &str) -> Result<Self, Error> {
        Self::connect_with(url, RedisConfig::new()).await
    }

    /// Connects to `url` with `config`, waiting for the first connection.
    ///
    /// # Errors
    /// As [`RedisStore::connect_with`].
    pub async fn connect_with(url: &str, config: RedisConfig) -> Result<Self, Error> {
        config.validate()?;
        let (target, _) = RedisConfig::target_of(url)?;
        let endpoint = Endpoint::open(&target, &config)?;
        let conn = endpoint.connect(&config).await?;
        Ok(Self::from_parts(conn, &config, endpoint.is_cluster()))
    }

    /// Prepares a throttle for `url` without connecting (see
    /// [`RedisStore::connect_lazy`]). Must be called inside a Tokio runtime.
    ///
    /// # Errors
    /// As [`RedisStore::connect_lazy`].
    pub fn connect_lazy(url: &str, config: RedisConfig) -> Result<Self, Error> {
        config.validate()?;
        let (target, _) = RedisConfig::target_of(url)?;
        let endpoint = Endpoint::open(&target, &config)?;
        let conn = endpoint.connect_lazy(&config)?;
        Ok(Self::from_parts(conn, &config, endpoint.is_cluster()))
    }

    /// A throttle over a connection of your own, with the key prefix of `config`.
    ///
    /// # Errors
    /// [`Error::Config`] for an unusable configuration.
    pub fn new(conn: ConnectionManager, config: &RedisConfig) -> Result<Self, Error> {
        config.validate()?;
        Ok(Self::from_parts(Connection::Single(conn), config, false))
    }

    fn from_parts(conn: Connection, config: &RedisConfig, cluster: bool) -> Self {
        RedisThrottle {
            conn,
            keys: Keys::new(config.prefix(), cluster),
            failure_mode: FailureMode::default(),
        }
    }

    /// A throttle sharing the store's connection and key prefix.
    pub fn from_store(store: &RedisStore) -> Self {
        RedisThrottle {
            conn: store.conn.clone(),
            keys: store.keys.clone(),
            failure_mode: FailureMode::default(),
        }
    }

    /// What to answer when Redis cannot be reached. Default: [`FailureMode::Closed`].
    #[must_use]
    pub fn with_failure_mode(mut self, mode: FailureMode) -> Self {
        self.failure_mode = mode;
        self
    }

    /// The failure mode.
    pub fn failure_mode(&self) -> FailureMode {
        self.failure_mode
    }

    async fn gcra(&self, key: &str, rate: Rate) -> Result<ThrottleDecision, StoreError> {
        // Microseconds, fractional when the rate is finer than that.
        let interval = rate.emission_interval().as_nanos() as f64 / 1000.0;
        let mut invocation = SCRIPTS.gcra.prepare_invoke();
        invocation
            .key(self.keys.throttle(key, rate))
            .arg(interval.to_string())
            .arg(rate.count().get());
        let mut conn = self.conn.clone();
        let (allowed, wait_micros): (u8, u64) = invocation
            .invoke_async(&mut conn)
            .await
            .map_err(store_error)?;
        Ok(if allowed == 1 {
            ThrottleDecision::Allowed
        } else {
            ThrottleDecision::Limited {
                retry_after: Duration::from_micros(wait_micros.max(1)),
            }
        })
    }
}

impl fmt::Debug for RedisThrottle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisThrottle")
            .field("prefix", &self.keys.prefix())
            .field("failure_mode", &self.failure_mode)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Throttle for RedisThrottle {
    async fn check(&self, key: &str, rate: Rate) -> Result<ThrottleDecision, StoreError> {
        match self.gcra(key, rate).await {
            Err(error) if error.is_unavailable() && self.failure_mode == FailureMode::Open => {
                // The key names a user and a client, not a credential, but it is not
                // needed to diagnose an outage either.
                tracing::warn!(%error, "redis throttle unavailable; admitting (FailureMode::Open)");
                Ok(ThrottleDecision::Allowed)
            }
            other => other,
        }
    }
}
