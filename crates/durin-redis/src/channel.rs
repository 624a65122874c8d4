//! `RedisChannel`: cache invalidations between the nodes that share a Redis, carried by
//! one Redis stream.
//!
//! Why a stream rather than pub/sub: a pub/sub message reaches only the connections
//! subscribed at that instant, so a subscriber whose connection drops for a moment has
//! lost whatever was published meanwhile and must report the loss (every node then
//! flushes its caches). A stream keeps the recent messages: a subscription that loses
//! its connection reconnects, reads on from the last id it delivered, and reports a loss
//! only when it cannot prove it missed nothing (the stream was trimmed past that id, or
//! deleted, or Redis cannot be reached again at once).

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use durin_core::{InvalidationChannel, StoreError, Subscription};
use redis::RedisError;
use redis::streams::{StreamId, StreamRangeReply, StreamReadReply};

use crate::RedisConfig;
use crate::conn::{Connection, Endpoint};
use crate::error::{is_unavailable, store_error};

/// The stream field holding a payload.
const PAYLOAD_FIELD: &str = "p";
/// The stream field of a subscriber's start marker (skipped by every subscription).
const MARKER_FIELD: &str = "s";
/// Entries read per `XREAD`. A batch shorter than this proves that nothing was trimmed
/// between the last id and the batch, as long as the stream keeps more entries than this.
const READ_COUNT: usize = 256;
/// The smallest `MAXLEN` accepted (it must stay well above [`READ_COUNT`]).
const MIN_MAX_LEN: u64 = 1_000;
/// How many times a subscription reconnects by itself between two successful reads
/// before it reports a loss: one, so a connection that fails again at once (flapping, or
/// a server that accepts connections but does not answer) is reported rather than
/// retried while the caches are trusted.
const SILENT_RECONNECTS: u32 = 1;

/// An [`InvalidationChannel`] over a Redis stream, `{prefix}:inv`.
///
/// Get one from [`crate::RedisStore::channel`]: it shares the store's key prefix,
/// timeouts and multiplexed connection (for publishing), and opens a dedicated connection
/// per subscription (a blocking `XREAD` would stall every command queued behind it on
/// the shared one).
///
/// - **Publish** is one `XADD {prefix}:inv MAXLEN ~ N * p <payload>` (default `N` =
///   10,000 entries, so memory is bounded by `N` payloads of at most 8 KB).
/// - **Subscribe** opens the dedicated connection (named with `CLIENT SETNAME`, see
///   [`RedisChannel::subscriber_name`]) and appends a start marker with `XADD`, whose id
///   is where the subscription starts reading: everything published after `subscribe`
///   returns has a larger id. Markers are skipped.
/// - **Next** loops on `XREAD COUNT 256 BLOCK <block> STREAMS {prefix}:inv <last id>`
///   (default block 1 s; the connection's response timeout is the block plus the
///   configured response timeout). Delivery is one round trip after the `XADD`.
/// - **A dropped connection** (killed, reset, a response timeout) is reopened at once,
///   and the subscription reads on from its last id, so nothing published meanwhile is
///   missed and no loss is reported. It reports a loss (the bus then bypasses and
///   flushes the caches) when the stream no longer holds its last id (trimmed past it, or
///   deleted, as by a Redis restarted without persistence), when it cannot reconnect
///   within the connection and response timeouts, or when the new connection fails
///   too before a read on it succeeded.
#[derive(Clone)]
pub struct RedisChannel {
    endpoint: Endpoint,
    conn: Connection,
    key: String,
    name: String,
    max_len: u64,
    block: Duration,
    connection_timeout: Duration,
    response_timeout: Duration,
}

impl RedisChannel {
    pub(crate) fn new(
        endpoint: Endpoint,
        conn: Connection,
        key: String,
        config: &RedisConfig,
    ) -> Self {
        RedisChannel {
            endpoint,
            conn,
            key,
            name: subscriber_name(config.prefix(), &durin_core::SessionId::generate()),
            max_len: 10_000,
            block: Duration::from_secs(1),
            connection_timeout: config.connection_timeout(),
            response_timeout: config.response_timeout(),
        }
    }

    /// About how many entries the stream keeps (`XADD ... MAXLEN ~ N`): a subscription
    /// that falls further behind, or stays disconnected while more are published,
    /// reports a loss. Default 10,000; at least 1,000.
    #[must_use]
    pub fn with_max_len(mut self, max_len: u64) -> Self {
        self.max_len = max_len.max(MIN_MAX_LEN);
        self
    }

    /// How long one `XREAD` blocks on the server before the subscription asks again.
    /// A silently broken connection (no reset) is noticed after this plus the response
    /// timeout. Default 1 s; between 10 ms and 60 s.
    #[must_use]
    pub fn with_block(mut self, block: Duration) -> Self {
        self.block = block.clamp(Duration::from_millis(10), Duration::from_secs(60));
        self
    }

    /// The stream's key, `{prefix}:inv`.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The name every subscription of this handle gives its connection
    /// (`CLIENT SETNAME`): `durin-inv:<prefix>:<random tag>`, a tag per
    /// [`crate::RedisStore::channel`] call, so each node's subscriber can be told apart
    /// in `CLIENT LIST` (characters Redis refuses in a name become `_`).
    pub fn subscriber_name(&self) -> &str {
        &self.name
    }

    /// The stream's approximate length bound.
    pub fn max_len(&self) -> u64 {
        self.max_len
    }

    /// The block time of one `XREAD`.
    pub fn block(&self) -> Duration {
        self.block
    }

    fn xadd(&self, field: &str, value: &str) -> redis::Cmd {
        let mut cmd = redis::cmd("XADD");
        cmd.arg(&self.key)
            .arg("MAXLEN")
            .arg("~")
            .arg(self.max_len)
            .arg("*")
            .arg(field)
            .arg(value);
        cmd
    }

    /// Opens a named connection for one subscription, within the connection and
    /// response timeouts. On a cluster it is a cluster connection of its own: its reads
    /// go to the node that serves the stream's slot, and follow the slot when it moves.
    async fn open(&self) -> Result<Connection, StoreError> {
        let open = async {
            // A blocked XREAD answers after `block` at the latest.
            let mut conn = self
                .endpoint
                .dedicated(self.connection_timeout, self.block + self.response_timeout)
                .await?;
            let mut setname = redis::cmd("CLIENT");
            setname.arg("SETNAME").arg(&self.name);
            conn.query_at::<()>(&self.key, &setname).await?;
            Ok::<_, RedisError>(conn)
        };
        match tokio::time::timeout(self.connection_timeout + self.response_timeout, open).await {
            Ok(opened) => opened.map_err(store_error),
            Err(_) => Err(StoreError::unavailable(
                "opening the invalidation subscriber's connection timed out",
            )),
        }
    }
}

/// `durin-inv:<prefix>:<tag>`, with what a client name may not hold (spaces, anything
/// outside printable ASCII) replaced.
fn subscriber_name(prefix: &str, tag: &durin_core::SessionId) -> String {
    let safe: String = prefix
        .chars()
        .map(|c| if ('!'..='~').contains(&c) { c } else { '_' })
        .collect();
    format!("durin-inv:{safe}:{tag}")
}

impl fmt::Debug for RedisChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisChannel")
            .field("key", &self.key)
            .field("max_len", &self.max_len)
            .field("block", &self.block)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl InvalidationChannel for RedisChannel {
    async fn publish(&self, payload: &str) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        self.xadd(PAYLOAD_FIELD, payload)
            .query_async::<String>(&mut conn)
            .await
            .map(drop)
            .map_err(store_error)
    }

    async fn subscribe(&self) -> Result<Box<dyn Subscription>, StoreError> {
        let mut conn = self.open().await?;
        // The marker's id is the stream's end now, and an id that exists: a later
        // reconnection can check that the stream still holds it.
        let start: String = self
            .xadd(MARKER_FIELD, &self.name)
            .query_async(&mut conn)
            .await
            .map_err(store_error)?;
        Ok(Box::new(RedisSubscription {
            last_content: (MARKER_FIELD, self.name.clone().into_bytes()),
            channel: self.clone(),
            conn: Some(conn),
            last: start,
            pending: VecDeque::new(),
        }))
    }
}

/// One node's subscription: its own connection, the id of the last entry it read, and
/// the payloads of the last batch not yet delivered.
struct RedisSubscription {
    channel: RedisChannel,
    /// `None` after the connection failed: the next read reconnects.
    conn: Option<Connection>,
    last: String,
    /// The field and value of the entry at `last`: a stream deleted and recreated within
    /// the same millisecond can hold a new entry under the same id, and only its content
    /// tells them apart.
    last_content: (&'static str, Vec<u8>),
    pending: VecDeque<String>,
}

/// The field (payload or marker) and value that identify an entry.
fn content(entry: &StreamId) -> Option<(&'static str, Vec<u8>)> {
    [PAYLOAD_FIELD, MARKER_FIELD].into_iter().find_map(|field| {
        let value = entry.map.get(field)?;
        let bytes: Vec<u8> = redis::from_redis_value_ref(value).ok()?;
        Some((field, bytes))
    })
}

/// Why a read failed.
enum Failure {
    /// The connection failed; reconnecting may recover without a loss.
    Dropped(RedisError),
    /// Messages may have been missed, or the channel is unusable: report it.
    Lost(StoreError),
}

impl RedisSubscription {
    /// Whether the stream still holds the entry last read (its id, with the same
    /// content): trimming removes the oldest entries first, so if it does, nothing after
    /// it was trimmed.
    async fn holds(&self, conn: &mut Connection) -> Result<bool, Failure> {
        let found: StreamRangeReply = redis::cmd("XRANGE")
            .arg(&self.channel.key)
            .arg(&self.last)
            .arg(&self.last)
            .arg("COUNT")
            .arg(1)
            .query_async(conn)
            .await
            .map_err(classify)?;
        Ok(found
            .ids
            .first()
            .is_some_and(|entry| content(entry).unwrap_or_default() == self.last_content))
    }

    fn trimmed(&self) -> Failure {
        Failure::Lost(StoreError::unavailable(format!(
            "the invalidation stream no longer holds entry {}: messages were missed",
            self.last
        )))
    }

    /// Opens a new connection and checks that the stream still holds the last id read.
    async fn reconnect(&self) -> Result<Connection, Failure> {
        let mut conn = self.channel.open().await.map_err(Failure::Lost)?;
        if !self.holds(&mut conn).await? {
            return Err(self.trimmed());
        }
        tracing::info!("invalidation subscriber reconnected; reading on from its last id");
        Ok(conn)
    }

    /// Reads the next batch into `pending` (possibly none: the block time passed),
    /// reconnecting first if the connection was lost. A failed read drops its
    /// connection, so the next one reconnects.
    async fn read(&mut self) -> Result<(), Failure> {
        let mut conn = match self.conn.take() {
            Some(conn) => conn,
            None => self.reconnect().await?,
        };
        let key = &self.channel.key;
        let block = u64::try_from(self.channel.block.as_millis()).unwrap_or(u64::MAX);
        let reply: Option<StreamReadReply> = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(READ_COUNT)
            .arg("BLOCK")
            .arg(block)
            .arg("STREAMS")
            .arg(key)
            .arg(&self.last)
            .query_async(&mut conn)
            .await
            .map_err(classify)?;
        let entries: Vec<_> = reply
            .into_iter()
            .flat_map(|reply| reply.keys)
            .flat_map(|stream| stream.ids)
            .collect();
        if entries.len() >= READ_COUNT && !self.holds(&mut conn).await? {
            // A full batch may have skipped trimmed entries: only the previous last id
            // still being there proves it did not.
            return Err(self.trimmed());
        }
        for entry in entries {
            if let Some(value) = entry.map.get(PAYLOAD_FIELD) {
                let bytes: Vec<u8> = redis::from_redis_value_ref(value).map_err(|e| {
                    Failure::Lost(StoreError::Corrupt(format!(
                        "invalidation stream entry {}: {e}",
                        entry.id
                    )))
                })?;
                // Not ours if not UTF-8; the bus logs and ignores what it cannot decode.
                self.pending
                    .push_back(String::from_utf8_lossy(&bytes).into_owned());
            }
            self.last_content = content(&entry).unwrap_or_default();
            self.last = entry.id;
        }
        self.conn = Some(conn);
        Ok(())
    }
}

/// Connection failures may be recovered from by reconnecting; anything else (a wrong
/// type at the key, an unexpected reply) is reported.
fn classify(error: RedisError) -> Failure {
    if is_unavailable(&error) {
        Failure::Dropped(error)
    } else {
        Failure::Lost(store_error(error))
    }
}

#[async_trait]
impl Subscription for RedisSubscription {
    async fn next(&mut self) -> Result<String, StoreError> {
        let mut dropped = 0;
        loop {
            if let Some(payload) = self.pending.pop_front() {
                return Ok(payload);
            }
            match self.read().await {
                Ok(()) => dropped = 0,
                Err(Failure::Lost(error)) => return Err(error),
                Err(Failure::Dropped(error)) => {
                    dropped += 1;
                    if dropped > SILENT_RECONNECTS {
                        return Err(StoreError::unavailable(error));
                    }
                    tracing::warn!(%error, "invalidation subscriber connection lost; reconnecting");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriber_names_hold_no_space() {
        let tag = durin_core::SessionId::new("t4g").unwrap();
        assert_eq!(subscriber_name("durin", &tag), "durin-inv:durin:t4g");
        assert_eq!(subscriber_name("{app}:é", &tag), "durin-inv:{app}:_:t4g");
    }
}
