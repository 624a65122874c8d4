//! [`SqliteChannel`]: cache invalidations between the processes sharing one SQLite file,
//! through a polled log table.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use durin_core::{
    Clock as _, Invalidation, InvalidationChannel, StoreError, Subscription, SystemClock, Timestamp,
};
use sqlx::sqlite::SqlitePool;
use tokio::time::Instant;

use crate::Error;

/// Default time between two polls of a subscription.
const DEFAULT_POLL: Duration = Duration::from_millis(100);
/// Default age past which published rows are pruned.
const DEFAULT_RETENTION: Duration = Duration::from_secs(60);
/// How often a publisher prunes, at most.
const PRUNE_EVERY: Duration = Duration::from_secs(5);
/// The most rows one poll reads; a full batch is followed by another poll at once.
const BATCH: i64 = 256;

/// An [`InvalidationChannel`] for the processes sharing an SQLite file (a server and
/// the `durin` CLI, say): a log table, `durin_invalidations`, polled by each subscriber.
///
/// - `publish` is one `INSERT` of the payload; at most every 5 s it also prunes rows
///   older than the retention (default 60 s), in one short write transaction.
/// - `subscribe` reads the last sequence number; `next` then polls with one query on the
///   primary key (`seq > last`) every poll interval (default 100 ms), returning payloads
///   in publication order (SQLite has one writer, so sequence order is commit order).
/// - Losses are reported, not hidden: pruning records the highest sequence number it
///   deleted, and a subscriber whose last seen row is below it (it was not polled for a
///   whole retention: a suspended process) may have missed rows, so its poll fails. A
///   failing poll (the file unreadable, the pool exhausted) is a loss too. Either way the
///   bus bypasses its caches and subscribes again.
///
/// Staleness: a payload is seen by every live subscriber within one poll interval (plus
/// the query), so the default bound is about 100 ms. The polls read through the store's
/// pool (one short read per interval per subscriber).
///
/// `sqlite::memory:` stores work too: the database lives in one process and its one
/// connection, so the channel only links the nodes of that process.
#[derive(Clone)]
pub struct SqliteChannel {
    pool: SqlitePool,
    poll_interval: Duration,
    retention: Duration,
    /// When this handle (and its clones) last pruned, in milliseconds.
    last_prune: Arc<AtomicI64>,
}

impl std::fmt::Debug for SqliteChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteChannel")
            .field("poll_interval", &self.poll_interval)
            .field("retention", &self.retention)
            .finish()
    }
}

impl SqliteChannel {
    /// A channel over `pool` (a migrated durin database), polling every 100 ms and
    /// pruning rows older than 60 s.
    pub fn new(pool: SqlitePool) -> Self {
        SqliteChannel {
            pool,
            poll_interval: DEFAULT_POLL,
            retention: DEFAULT_RETENTION,
            last_prune: Arc::new(AtomicI64::new(i64::MIN)),
        }
    }

    /// How often a subscription polls: the staleness bound of the other processes.
    /// Default 100 ms; at least 1 ms.
    #[must_use]
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// How long published rows are kept. A subscriber that does not poll for this long
    /// reports a loss. Default 60 s; at least one second.
    #[must_use]
    pub fn with_retention(mut self, retention: Duration) -> Self {
        self.retention = retention.max(Duration::from_secs(1));
        self
    }

    /// The poll interval.
    pub fn poll_interval(&self) -> Duration {
        self.poll_interval
    }

    /// Deletes the rows older than the retention now (publishers do it as they go; this
    /// is for housekeeping). Returns how many it deleted.
    ///
    /// # Errors
    /// [`StoreError`] when the database fails.
    pub async fn prune(&self) -> Result<u64, StoreError> {
        self.prune_before(SystemClock.now().saturating_sub(self.retention))
            .await
    }

    /// Deletes the rows published before `cutoff` and records the highest deleted
    /// sequence number, in one transaction.
    pub(crate) async fn prune_before(&self, cutoff: Timestamp) -> Result<u64, StoreError> {
        use crate::error::map;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(map)?;
        let (through,): (Option<i64>,) =
            sqlx::query_as("SELECT MAX(seq) FROM durin_invalidations WHERE at < $1")
                .bind(cutoff.as_millis())
                .fetch_one(&mut *tx)
                .await
                .map_err(map)?;
        let Some(through) = through else {
            return Ok(0);
        };
        let done = sqlx::query("DELETE FROM durin_invalidations WHERE seq <= $1")
            .bind(through)
            .execute(&mut *tx)
            .await
            .map_err(map)?;
        sqlx::query(
            "UPDATE durin_invalidations_pruned SET through = MAX(through, $1) WHERE id = 1",
        )
        .bind(through)
        .execute(&mut *tx)
        .await
        .map_err(map)?;
        tx.commit().await.map_err(map)?;
        Ok(done.rows_affected())
    }

    /// Prunes when this handle has not for [`PRUNE_EVERY`]. A failure is only logged:
    /// the payload is published, and the next publication retries.
    async fn prune_as_we_go(&self, now: Timestamp) {
        let last = self.last_prune.load(Ordering::Relaxed);
        let every = i64::try_from(PRUNE_EVERY.as_millis()).unwrap_or(i64::MAX);
        if now.as_millis().saturating_sub(last) < every
            || self
                .last_prune
                .compare_exchange(last, now.as_millis(), Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        if let Err(error) = self.prune_before(now.saturating_sub(self.retention)).await {
            tracing::warn!(%error, "pruning the invalidation log failed");
        }
    }
}

#[async_trait]
impl InvalidationChannel for SqliteChannel {
    async fn publish(&self, payload: &str) -> Result<(), StoreError> {
        if payload.len() > Invalidation::MAX_PAYLOAD {
            return Err(StoreError::backend(Error::PayloadTooLong {
                len: payload.len(),
                limit: Invalidation::MAX_PAYLOAD,
            }));
        }
        let now = SystemClock.now();
        sqlx::query("INSERT INTO durin_invalidations (at, payload) VALUES ($1, $2)")
            .bind(now.as_millis())
            .bind(payload)
            .execute(&self.pool)
            .await
            .map_err(crate::error::map)?;
        self.prune_as_we_go(now).await;
        Ok(())
    }

    async fn subscribe(&self) -> Result<Box<dyn Subscription>, StoreError> {
        // The pruning mark counts too: an empty log after a prune must not look like a
        // gap to the first poll.
        let (last,): (i64,) = sqlx::query_as(
            "SELECT MAX(through, COALESCE((SELECT MAX(seq) FROM durin_invalidations), 0)) \
             FROM durin_invalidations_pruned WHERE id = 1",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(crate::error::map)?;
        Ok(Box::new(SqliteSubscription {
            pool: self.pool.clone(),
            interval: self.poll_interval,
            last,
            next_poll: Instant::now(),
            buffer: VecDeque::new(),
            lost: false,
        }))
    }
}

struct SqliteSubscription {
    pool: SqlitePool,
    interval: Duration,
    /// The highest sequence number delivered (or skipped at subscription).
    last: i64,
    next_poll: Instant,
    buffer: VecDeque<String>,
    lost: bool,
}

impl SqliteSubscription {
    /// One poll: the rows after `last` and the pruning mark, in one query (a one-row
    /// table joined to a primary-key range). Returns whether the batch was full.
    async fn poll(&mut self) -> Result<bool, StoreError> {
        let rows: Vec<(i64, Option<i64>, Option<String>)> = sqlx::query_as(
            "SELECT p.through, i.seq, i.payload FROM durin_invalidations_pruned AS p \
             LEFT JOIN durin_invalidations AS i ON i.seq > $1 \
             WHERE p.id = 1 ORDER BY i.seq LIMIT $2",
        )
        .bind(self.last)
        .bind(BATCH)
        .fetch_all(&self.pool)
        .await
        .map_err(crate::error::map)?;
        let Some((through, _, _)) = rows.first() else {
            return Err(StoreError::Corrupt(
                "durin_invalidations_pruned has no row".to_owned(),
            ));
        };
        if *through > self.last {
            return Err(StoreError::unavailable(Error::MissedInvalidations {
                last_seen: self.last,
                pruned_through: *through,
            }));
        }
        let full = rows.len() as i64 >= BATCH;
        for (_, seq, payload) in rows {
            if let (Some(seq), Some(payload)) = (seq, payload) {
                self.last = seq;
                self.buffer.push_back(payload);
            }
        }
        Ok(full)
    }
}

#[async_trait]
impl Subscription for SqliteSubscription {
    async fn next(&mut self) -> Result<String, StoreError> {
        loop {
            if self.lost {
                return Err(StoreError::unavailable("the subscription was lost"));
            }
            if let Some(payload) = self.buffer.pop_front() {
                return Ok(payload);
            }
            tokio::time::sleep_until(self.next_poll).await;
            match self.poll().await {
                Ok(full) => {
                    self.next_poll = if full {
                        Instant::now()
                    } else {
                        Instant::now() + self.interval
                    };
                }
                Err(error) => {
                    self.lost = true;
                    return Err(error);
                }
            }
        }
    }
}
