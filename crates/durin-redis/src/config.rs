//! Settings shared by [`crate::RedisStore`] and [`crate::RedisThrottle`].

use std::time::Duration;

use redis::aio::ConnectionManagerConfig;

use crate::Error;
use crate::conn::Target;

/// The scheme of a Redis Cluster URL.
pub(crate) const CLUSTER_SCHEME: &str = "redis+cluster://";

/// The URL without credentials, for messages.
fn shown(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((_, hosts)) => format!("{scheme}://***@{hosts}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

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
    wait_replicas: u32,
    wait_timeout: Duration,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            prefix: "durin".to_owned(),
            grace: Duration::from_secs(3600),
            connection_timeout: Duration::from_secs(1),
            response_timeout: Duration::from_secs(1),
            reconnect_attempts: 1,
            wait_replicas: 0,
            wait_timeout: Duration::from_millis(500),
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
    /// On a Redis Cluster, braces are dropped from it: the store puts its shared keys
    /// under `{prefix}` and each user's under `{prefix:<routing tag>}` (see the crate's
    /// "Redis Cluster" notes).
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

    /// How many replicas must confirm a login, logout, logout-all, revocation or
    /// rotation (`WAIT <n> <timeout>` on the primary that took the write) before it is
    /// acknowledged; fewer within [`RedisConfig::with_wait_timeout`] fails the call as
    /// unavailable (503). 0 turns it off. Default: 0 here; 1 for a `redis+cluster://`
    /// URL read by [`RedisConfig::from_url`] (`?wait_replicas=N` sets it either way).
    ///
    /// `WAIT` makes a lost primary much less likely to lose an acknowledged write; it
    /// does not make Redis strongly consistent: the replica has the write in memory (not
    /// necessarily on disk), a failover may still promote a replica that lacked it, and
    /// a write that timed out waiting stays applied on the primary.
    #[must_use]
    pub fn with_wait_replicas(mut self, replicas: u32) -> Self {
        self.wait_replicas = replicas;
        self
    }

    /// How long `WAIT` may wait for the replicas. Default: 500 ms; keep it below the
    /// response timeout.
    #[must_use]
    pub fn with_wait_timeout(mut self, timeout: Duration) -> Self {
        self.wait_timeout = timeout;
        self
    }

    /// The replicas a write waits for.
    pub fn wait_replicas(&self) -> u32 {
        self.wait_replicas
    }

    /// How long a write waits for its replicas.
    pub fn wait_timeout(&self) -> Duration {
        self.wait_timeout
    }

    /// Reads a store URL: `redis://[user:password@]host:port[/db]` and `rediss://...`
    /// (one server), or `redis+cluster://[user:password@]HOST:PORT[,HOST:PORT...][/]`
    /// (a Redis Cluster; the nodes are seeds, any one that answers is enough). Both
    /// take `?prefix=P` (the key prefix) and `&wait_replicas=N` (see
    /// [`RedisConfig::with_wait_replicas`]; default 1 on a cluster, 0 otherwise); other
    /// query parameters of a one-server URL go to the `redis` crate. Returns the
    /// connection URL(s) and the settings (the defaults otherwise).
    ///
    /// ```
    /// use durin_redis::RedisConfig;
    ///
    /// let (nodes, config) =
    ///     RedisConfig::from_url("redis+cluster://10.0.0.1:7001,10.0.0.2:7001/?prefix=app").unwrap();
    /// assert_eq!(nodes, ["redis://10.0.0.1:7001", "redis://10.0.0.2:7001"]);
    /// assert_eq!((config.prefix(), config.wait_replicas()), ("app", 1));
    /// ```
    ///
    /// # Errors
    /// [`Error::Config`] for a malformed URL, an empty prefix or a bad `wait_replicas`.
    pub fn from_url(url: &str) -> Result<(Vec<String>, RedisConfig), Error> {
        let (target, config) = Self::target_of(url)?;
        Ok(match target {
            Target::Single(url) => (vec![url], config),
            Target::Cluster(nodes) => (nodes, config),
        })
    }

    pub(crate) fn target_of(url: &str) -> Result<(Target, RedisConfig), Error> {
        let bad = |why: &str| Error::Config(format!("{}: {why}", shown(url)));
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let cluster = base.strip_prefix(CLUSTER_SCHEME);
        let mut config = RedisConfig::new().with_wait_replicas(u32::from(cluster.is_some()));
        let mut rest = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("prefix", "")) => return Err(bad("the prefix must not be empty")),
                Some(("prefix", prefix)) => config = config.with_prefix(prefix),
                Some(("wait_replicas", n)) => {
                    let n = n
                        .parse()
                        .map_err(|_| bad("wait_replicas must be a number of replicas"))?;
                    config = config.with_wait_replicas(n);
                }
                _ => rest.push(pair),
            }
        }
        let Some(authority) = cluster else {
            let url = if rest.is_empty() {
                base.to_owned()
            } else {
                format!("{base}?{}", rest.join("&"))
            };
            return Ok((Target::Single(url), config));
        };
        if !rest.is_empty() {
            return Err(bad("a cluster URL takes only prefix and wait_replicas"));
        }
        let authority = authority.strip_suffix('/').unwrap_or(authority);
        if authority.contains('/') {
            return Err(bad(
                "a cluster URL names no database (a cluster has only db 0)",
            ));
        }
        let (credentials, hosts) = match authority.rsplit_once('@') {
            Some((credentials, hosts)) => (format!("{credentials}@"), hosts),
            None => (String::new(), authority),
        };
        let nodes: Vec<String> = hosts
            .split(',')
            .map(|node| {
                let (host, port) = node.rsplit_once(':').unwrap_or((node, ""));
                if host.is_empty() || port.parse::<u16>().is_err() {
                    return Err(bad("each cluster node is HOST:PORT"));
                }
                Ok(format!("redis://{credentials}{node}"))
            })
            .collect::<Result<_, _>>()?;
        Ok((Target::Cluster(nodes), config))
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
        if self.prefix.contains('{') != self.prefix.contains('}') {
            return Err(Error::Config(format!(
                "the key prefix {:?} opens or closes a hash tag without the other",
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
        assert!(RedisConfig::new().with_prefix("{half").validate().is_err());
    }

    #[test]
    fn urls_are_read() {
        let (target, config) =
            RedisConfig::target_of("redis://h:6379/2?prefix=a&protocol=resp3").unwrap();
        assert_eq!(
            target,
            Target::Single("redis://h:6379/2?protocol=resp3".into())
        );
        assert_eq!((config.prefix(), config.wait_replicas()), ("a", 0));
        let (target, config) =
            RedisConfig::target_of("redis+cluster://u:p@a:7001,b:7002/?wait_replicas=0").unwrap();
        assert_eq!(
            target,
            Target::Cluster(vec![
                "redis://u:p@a:7001".into(),
                "redis://u:p@b:7002".into()
            ])
        );
        assert_eq!((config.prefix(), config.wait_replicas()), ("durin", 0));
        let (_, config) = RedisConfig::target_of("redis+cluster://a:1").unwrap();
        assert_eq!(config.wait_replicas(), 1);
        for bad in [
            "redis+cluster://a:1/?prefix=",
            "redis+cluster://a:1/3",
            "redis+cluster://a,b:1",
            "redis+cluster://a:1/?db=2",
            "redis+cluster://a:1/?wait_replicas=x",
        ] {
            let error = RedisConfig::target_of(bad).unwrap_err();
            assert!(matches!(error, Error::Config(_)), "{bad}");
        }
        let error = RedisConfig::target_of("redis+cluster://u:secret@a:x").unwrap_err();
        assert!(!error.to_string().contains("secret"));
    }
}
