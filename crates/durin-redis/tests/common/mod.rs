//! What the integration tests share: the Redis under test (`REDIS_URL`), stores under
//! unique key prefixes, and private `redis-server` processes for outage tests.

// Each test binary uses its own part of this module.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use durin_core::{Clock, SystemClock};
use durin_redis::{RedisConfig, RedisStore, RedisThrottle};

/// The Redis the tests run against.
pub(crate) fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// The Redis Cluster the cluster tests run against (`REDIS_CLUSTER_URL`; the one
/// `scripts/services.sh` starts by default).
pub(crate) fn cluster_url() -> String {
    std::env::var("REDIS_CLUSTER_URL").unwrap_or_else(|_| {
        "redis+cluster://127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003".to_owned()
    })
}

/// A config under a fresh prefix for the cluster: every write waits for one replica.
pub(crate) fn cluster_config() -> RedisConfig {
    config().with_wait_replicas(1)
}

/// A store on the cluster under a fresh prefix; panics (never skips) when the cluster is
/// unreachable.
pub(crate) async fn cluster_store() -> Arc<RedisStore> {
    Arc::new(cluster_store_with(cluster_config()).await)
}

/// A store on the cluster with `config`; panics when the cluster is unreachable.
pub(crate) async fn cluster_store_with(config: RedisConfig) -> RedisStore {
    sweep_cluster_leftovers();
    let url = cluster_url();
    let store = RedisStore::connect_with(&url, config)
        .await
        .unwrap_or_else(|error| {
            panic!(
                "cannot reach the Redis Cluster at {} (set REDIS_CLUSTER_URL, or run scripts/services.sh): {error:?}",
                shown(&url)
            )
        });
    assert!(store.is_cluster());
    store
}

/// A throttle on the cluster under a fresh prefix; panics when it is unreachable.
pub(crate) async fn cluster_throttle() -> Arc<RedisThrottle> {
    let url = cluster_url();
    let throttle = RedisThrottle::connect_with(&url, cluster_config())
        .await
        .unwrap_or_else(|error| {
            panic!(
                "cannot reach the Redis Cluster at {} (set REDIS_CLUSTER_URL, or run scripts/services.sh): {error:?}",
                shown(&url)
            )
        });
    Arc::new(throttle)
}

/// The URL without credentials, for messages.
fn shown(url: &str) -> &str {
    url.rsplit_once('@').map_or(url, |(_, host)| host)
}

const TEST_PREFIX: &str = "durin-test-";
/// Test data older than this is deleted by the next test run.
const LEFTOVER_AGE_SECS: i64 = 6 * 3600;

/// A prefix no other test uses: `durin-test-<unix seconds>-<random>`.
pub(crate) fn unique_prefix() -> String {
    let secs = SystemClock.now().as_millis() / 1000;
    durin_core::testing::unique(&format!("{TEST_PREFIX}{secs}"))
}

/// A config under a fresh prefix.
pub(crate) fn config() -> RedisConfig {
    RedisConfig::new().with_prefix(unique_prefix())
}

/// A store under a fresh prefix; panics (never skips) when Redis is unreachable.
pub(crate) async fn store() -> Arc<RedisStore> {
    Arc::new(store_with(config()).await)
}

/// A store with `config`; panics when Redis is unreachable.
pub(crate) async fn store_with(config: RedisConfig) -> RedisStore {
    sweep_leftovers();
    let url = redis_url();
    RedisStore::connect_with(&url, config)
        .await
        .unwrap_or_else(|error| {
            panic!(
                "cannot reach Redis at {} (set REDIS_URL, or run scripts/services.sh): {error:?}",
                shown(&url)
            )
        })
}

/// A throttle under a fresh prefix; panics when Redis is unreachable.
pub(crate) async fn throttle() -> Arc<RedisThrottle> {
    let url = redis_url();
    let throttle = RedisThrottle::connect_with(&url, config())
        .await
        .unwrap_or_else(|error| {
            panic!(
                "cannot reach Redis at {} (set REDIS_URL, or run scripts/services.sh): {error:?}",
                shown(&url)
            )
        });
    Arc::new(throttle)
}

/// A plain connection to inspect what the store wrote.
pub(crate) async fn raw_connection() -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(redis_url()).expect("REDIS_URL is a redis URL");
    client
        .get_multiplexed_async_connection()
        .await
        .expect("Redis reachable")
}

/// Deletes the keys of test runs older than six hours, once per test binary: each case
/// writes under its own prefix, and sessions that never expire (and clients) would
/// otherwise pile up in a developer's Redis.
fn sweep_leftovers() {
    static SWEEP: Once = Once::new();
    SWEEP.call_once(|| {
        let Ok(client) = redis::Client::open(redis_url()) else {
            return;
        };
        let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_secs(2)) else {
            return; // The store's own connect reports it.
        };
        let now = SystemClock.now().as_millis() / 1000;
        let mut keys: Vec<String> = Vec::new();
        let mut cursor = 0u64;
        loop {
            let page: redis::RedisResult<(u64, Vec<String>)> = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{TEST_PREFIX}*"))
                .arg("COUNT")
                .arg(1000)
                .query(&mut conn);
            let Ok((next, page)) = page else { return };
            keys.extend(page);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        let old: Vec<&String> = keys
            .iter()
            .filter(|key| {
                key[TEST_PREFIX.len()..]
                    .split('-')
                    .next()
                    .and_then(|secs| secs.parse::<i64>().ok())
                    .is_some_and(|secs| now - secs > LEFTOVER_AGE_SECS)
            })
            .collect();
        for chunk in old.chunks(500) {
            let _: redis::RedisResult<i64> = redis::cmd("UNLINK").arg(chunk).query(&mut conn);
        }
    });
}

/// The cluster's [`sweep_leftovers`]: each primary is scanned on its own (a cluster
/// connection sends `SCAN` to one node), and keys are deleted one by one (they live in
/// different slots). Test keys are `{durin-test-<secs>-...}...` or `durin-test-<secs>-...`.
fn sweep_cluster_leftovers() {
    static SWEEP: Once = Once::new();
    SWEEP.call_once(|| {
        let url = cluster_url();
        let Some(seed) = url
            .strip_prefix("redis+cluster://")
            .and_then(|rest| rest.rsplit('@').next())
            .and_then(|hosts| hosts.split(',').next())
            .map(|host| host.trim_end_matches('/').to_owned())
        else {
            return;
        };
        let Ok(mut conn) = redis::Client::open(format!("redis://{seed}"))
            .and_then(|client| client.get_connection_with_timeout(Duration::from_secs(2)))
        else {
            return; // The store's own connect reports it.
        };
        let Ok(nodes) = redis::cmd("CLUSTER")
            .arg("NODES")
            .query::<String>(&mut conn)
        else {
            return;
        };
        let now = SystemClock.now().as_millis() / 1000;
        let primaries = nodes
            .lines()
            .filter(|line| line.contains("master") && !line.contains("fail"))
            .filter_map(|line| line.split_whitespace().nth(1))
            .filter_map(|address| address.split('@').next().map(str::to_owned));
        for primary in primaries {
            let Ok(mut node) = redis::Client::open(format!("redis://{primary}"))
                .and_then(|client| client.get_connection_with_timeout(Duration::from_secs(2)))
            else {
                continue;
            };
            let mut cursor = 0u64;
            loop {
                let page: redis::RedisResult<(u64, Vec<String>)> = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(format!("*{TEST_PREFIX}*"))
                    .arg("COUNT")
                    .arg(1000)
                    .query(&mut node);
                let Ok((next, keys)) = page else { break };
                for key in keys {
                    let old = key
                        .trim_start_matches('{')
                        .strip_prefix(TEST_PREFIX)
                        .and_then(|rest| rest.split('-').next())
                        .and_then(|secs| secs.parse::<i64>().ok())
                        .is_some_and(|secs| now - secs > LEFTOVER_AGE_SECS);
                    if old {
                        let _: redis::RedisResult<i64> =
                            redis::cmd("UNLINK").arg(&key).query(&mut node);
                    }
                }
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
    });
}

/// A `redis-server` of the test's own on a free loopback port, without persistence,
/// killed on drop.
pub(crate) struct PrivateRedis {
    child: Option<Child>,
    port: u16,
}

impl PrivateRedis {
    /// Starts one on a free port.
    pub(crate) fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let mut server = PrivateRedis { child: None, port };
        server.restart();
        server
    }

    /// `redis://127.0.0.1:<port>`.
    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (as a crash would) and waits for it to exit.
    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (empty: nothing was persisted).
    pub(crate) fn restart(&mut self) {
        self.stop();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| {
                panic!("cannot start redis-server (is it installed? scripts/services.sh installs it): {error}")
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not listen on port {} within 10 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing answers.
    pub(crate) fn pause(&self) {
        self.signal("-STOP");
    }

    /// Thaws a paused server (SIGCONT).
    pub(crate) fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("server running").id();
        let status = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .expect("kill(1)");
        assert!(status.success(), "kill {signal} {pid}");
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}
