//! The connection under [`crate::RedisStore`]: one Redis server through a
//! [`ConnectionManager`], or a Redis Cluster through a cluster connection. Both are
//! [`ConnectionLike`], so every store operation is written once.

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, MultiplexedConnection};
use redis::cluster::{ClusterClient, ClusterClientBuilder, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{Cmd, Pipeline, RedisFuture, RedisResult, Value};

use crate::{Error, RedisConfig};

/// How often a cluster command is retried (`TRYAGAIN`, `CLUSTERDOWN`, a lost node
/// connection) before it fails as unavailable; `MOVED` and `ASK` are followed within the
/// same budget.
const CLUSTER_RETRIES: u32 = 4;

/// A connection to Redis: a single server or a cluster. Cheap to clone (clones share
/// the connection); run your own commands on it with `query_async`.
#[derive(Clone)]
pub enum Connection {
    /// One server (standalone, or a primary behind a proxy), through a
    /// [`ConnectionManager`] that reconnects by itself.
    Single(ConnectionManager),
    /// A Redis Cluster: commands go to the node that serves their key's slot; `MOVED`
    /// and `ASK` are followed, `TRYAGAIN` and `CLUSTERDOWN` retried a bounded number of
    /// times.
    Cluster(ClusterConnection),
    /// One plain multiplexed connection (an invalidation subscriber's own).
    Plain(MultiplexedConnection),
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Connection::Single(conn) => conn.req_packed_command(cmd),
            Connection::Cluster(conn) => conn.req_packed_command(cmd),
            Connection::Plain(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Single(conn) => conn.req_packed_commands(pipeline, offset, count),
            Connection::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
            Connection::Plain(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Single(conn) => conn.get_db(),
            Connection::Cluster(conn) => conn.get_db(),
            Connection::Plain(conn) => conn.get_db(),
        }
    }
}

impl Connection {
    /// Runs `cmd` on the primary that serves `key`'s slot (on a single server: the
    /// server). `WAIT` must reach the node that took the write it waits for.
    pub(crate) async fn query_at<T: redis::FromRedisValue>(
        &mut self,
        key: &str,
        cmd: &Cmd,
    ) -> RedisResult<T> {
        match self {
            Connection::Cluster(conn) => {
                let route = Route::new(slot(key.as_bytes()), SlotAddr::Master);
                let value = conn
                    .route_command(
                        cmd.clone(),
                        RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(route)),
                    )
                    .await?;
                Ok(redis::from_redis_value(value)?)
            }
            other => cmd.query_async(other).await,
        }
    }
}

/// Where a store connects: one server, or a cluster from a list of seed nodes.
#[derive(Clone)]
pub(crate) enum Endpoint {
    Single(redis::Client),
    Cluster(Box<ClusterClient>),
}

impl Endpoint {
    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self, Endpoint::Cluster(_))
    }

    /// The endpoint of `redis://...` (one URL) or of a cluster's seed node URLs.
    pub(crate) fn open(target: &Target, config: &RedisConfig) -> Result<Self, Error> {
        Ok(match target {
            Target::Single(url) => Endpoint::Single(redis::Client::open(url.as_str())?),
            Target::Cluster(nodes) => Endpoint::Cluster(Box::new(
                ClusterClientBuilder::new(nodes.iter().map(String::as_str))
                    .retries(CLUSTER_RETRIES)
                    .min_retry_wait(20)
                    .max_retry_wait(200)
                    .connection_timeout(config.connection_timeout())
                    .response_timeout(config.response_timeout())
                    .build()?,
            )),
        })
    }

    /// The store's shared connection, waiting for the first connection.
    pub(crate) async fn connect(&self, config: &RedisConfig) -> Result<Connection, Error> {
        Ok(match self {
            Endpoint::Single(client) => Connection::Single(
                ConnectionManager::new_with_config(client.clone(), config.manager_config()).await?,
            ),
            Endpoint::Cluster(client) => Connection::Cluster(
                client
                    .get_async_connection_with_config(cluster_config(
                        config.connection_timeout(),
                        config.response_timeout(),
                    ))
                    .await?,
            ),
        })
    }

    /// The store's shared connection, connecting on first use.
    pub(crate) fn connect_lazy(&self, config: &RedisConfig) -> Result<Connection, Error> {
        Ok(match self {
            Endpoint::Single(client) => Connection::Single(
                ConnectionManager::new_lazy_with_config(client.clone(), config.manager_config())?,
            ),
            Endpoint::Cluster(client) => {
                Connection::Cluster(client.get_pending_async_connection_with_config(
                    cluster_config(config.connection_timeout(), config.response_timeout()),
                ))
            }
        })
    }

    /// A connection of its own (an invalidation subscriber's: its blocking reads must not
    /// stall the shared connection), with its own timeouts.
    pub(crate) async fn dedicated(
        &self,
        connection_timeout: Duration,
        response_timeout: Duration,
    ) -> RedisResult<Connection> {
        Ok(match self {
            Endpoint::Single(client) => {
                let config = redis::AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(connection_timeout))
                    .set_response_timeout(Some(response_timeout));
                Connection::Plain(
                    client
                        .get_multiplexed_async_connection_with_config(&config)
                        .await?,
                )
            }
            Endpoint::Cluster(client) => Connection::Cluster(
                client
                    .get_async_connection_with_config(cluster_config(
                        connection_timeout,
                        response_timeout,
                    ))
                    .await?,
            ),
        })
    }
}

fn cluster_config(connection_timeout: Duration, response_timeout: Duration) -> ClusterConfig {
    ClusterConfig::new()
        .set_connection_timeout(connection_timeout)
        .set_response_timeout(response_timeout)
}

/// What a store URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// `redis://` or `rediss://`, as the `redis` crate reads it.
    Single(String),
    /// The seed nodes of a cluster, each as `redis://HOST:PORT` (with the credentials
    /// of the cluster URL, if any).
    Cluster(Vec<String>),
}

/// The Redis Cluster hash slot of `key`: CRC16 (XMODEM) of its hash tag (the text
/// between the first `{` and the next `}`, when not empty) or of the whole key, modulo
/// 16384.
pub(crate) fn slot(key: &[u8]) -> u16 {
    let tagged = key.iter().position(|&b| b == b'{').and_then(|open| {
        let rest = &key[open + 1..];
        let close = rest.iter().position(|&b| b == b'}')?;
        (close > 0).then(|| &rest[..close])
    });
    crc16(tagged.unwrap_or(key)) % 16384
}

fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in bytes {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_follow_the_cluster_spec() {
        // The examples of the Redis Cluster specification and `CLUSTER KEYSLOT`.
        assert_eq!(crc16(b"123456789"), 0x31c3);
        assert_eq!(slot(b"foo"), 12182);
        assert_eq!(slot(b"{user1000}.following"), slot(b"{user1000}.followers"));
        assert_eq!(slot(b"foo{}{bar}"), slot(b"foo{}{bar}"));
        assert_ne!(slot(b"foo{}{bar}"), slot(b"bar"));
        assert_eq!(slot(b"foo{{bar}}zap"), slot(b"{bar"));
        assert_eq!(slot(b"{durin}:s:ab"), slot(b"durin"));
    }
}
