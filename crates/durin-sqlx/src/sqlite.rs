//! [`SqliteStore`]: sessions and clients in an SQLite file (or in memory); what the
//! [`Dialect`] of [`sqlx::Sqlite`] supplies.

use std::str::FromStr;

use durin_core::{AttemptKey, StoreError, UserId};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};

use crate::dialect::{Dialect, Sealed};
use crate::{MIGRATIONS_TABLE, PoolConfig, SqlStore, SqliteChannel};

/// Sessions and clients in SQLite, and what several processes on one file share through
/// it: the invalidation channel ([`SqlStore::channel`], a [`SqliteChannel`], a polled log
/// table), the throttle and the failed-login limit (`impl Throttle` and
/// `impl AttemptLimiter`).
///
/// Files run in WAL mode (readers never wait for the writer). Every multi-statement write
/// opens with `BEGIN IMMEDIATE`, taking SQLite's single write lock up front: a deferred
/// transaction that reads and then writes can fail with "database is locked"
/// (`SQLITE_BUSY_SNAPSHOT`) no matter the busy timeout, an immediate one simply waits its
/// turn. `sqlite::memory:` databases use a single connection, since each connection
/// would otherwise see its own empty database.
///
/// ```no_run
/// # async fn demo() -> Result<(), durin_core::StoreError> {
/// let store = durin_sqlx::SqliteStore::connect("sqlite://durin.db").await?;
/// store.migrate().await?;
/// # Ok(()) }
/// ```
pub type SqliteStore = SqlStore<Sqlite>;

/// SQLite's clock in microseconds ("now" is one instant per statement), read after the
/// statement has taken the write lock, so checks from several processes see time advance
/// in lock order.
macro_rules! now_micros {
    () => {
        "CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)"
    };
}

/// The embedded migrations for SQLite, recorded in durin's own table
/// ([`MIGRATIONS_TABLE`]) so an application's `_sqlx_migrations` is left alone.
pub(crate) fn migrator() -> Migrator {
    let mut migrator = sqlx::migrate!("migrations/sqlite");
    migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
    migrator
}

impl Sealed for Sqlite {}

impl Dialect for Sqlite {
    const STORE: &'static str = "SqliteStore";
    const BACKEND: &'static str = "sqlite";
    const THROTTLE_SQL: &'static str = crate::throttle::gcra_sql!(now = now_micros!(), max = "MAX");
    const PURGE_THROTTLE_SQL: &'static str =
        concat!("DELETE FROM durin_throttle WHERE tat < ", now_micros!());

    type Channel = SqliteChannel;
    type Routing = ();

    async fn get_session(
        store: &crate::SqlStore<Self>,
        digest: &durin_core::TokenDigest,
    ) -> Result<Option<std::sync::Arc<durin_core::Session>>, StoreError> {
        crate::tokens::fetch_session(&store.pool, digest).await
    }

    fn migrator() -> Migrator {
        migrator()
    }

    fn rows_affected(result: &sqlx::sqlite::SqliteQueryResult) -> u64 {
        result.rows_affected()
    }

    fn options(
        url: &str,
        config: &PoolConfig,
    ) -> Result<(SqliteConnectOptions, SqlitePoolOptions), StoreError> {
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let mut options = SqliteConnectOptions::from_str(url)
            .map_err(StoreError::backend)?
            .create_if_missing(true)
            .foreign_keys(true);
        if let Some(timeout) = config.statement_timeout {
            options = options.busy_timeout(timeout);
        }
        if !in_memory {
            options = options
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal);
        }
        let mut pool = SqlitePoolOptions::new().acquire_timeout(config.acquire_timeout);
        pool = if in_memory {
            // The database lives as long as its one connection: never let it go.
            pool.max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            pool.max_connections(config.max_connections)
                .min_connections(config.min_connections)
        };
        Ok((options, pool))
    }

    fn channel(pool: SqlitePool, _routing: &()) -> SqliteChannel {
        SqliteChannel::new(pool)
    }

    /// The log table's rows past the retention.
    async fn prune_channel(channel: &SqliteChannel) -> Result<u64, StoreError> {
        channel.prune().await
    }

    async fn begin_write(pool: &SqlitePool) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        pool.begin_with("BEGIN IMMEDIATE").await
    }

    /// SQLite has one writer at a time: the immediate transaction already serialises
    /// every user's writes.
    async fn begin_user_write(
        pool: &SqlitePool,
        _user: &UserId,
    ) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        pool.begin_with("BEGIN IMMEDIATE").await
    }

    /// The immediate transaction serialises every writer, so no per-key lock is needed.
    async fn begin_attempts(
        pool: &SqlitePool,
        _keys: &[AttemptKey],
    ) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        pool.begin_with("BEGIN IMMEDIATE").await
    }
}
