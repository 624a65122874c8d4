//! [`SqliteStore`]: sessions and clients in an SQLite file (or in memory).

use std::str::FromStr;
use std::time::Duration;

use durin_core::{AttemptKey, AttemptLimiter as _, Clock as _, StoreError, SystemClock, UserId};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};

use durin_core::HousekeepingReport;

use crate::{MIGRATIONS_TABLE, PoolConfig, SqliteChannel};

/// Sessions and clients in SQLite, and what several processes on one file share through
/// it: the invalidation channel ([`SqliteStore::channel`], a polled log table), the
/// throttle and the failed-login limit (`impl Throttle` and `impl AttemptLimiter`).
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
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("connections", &self.pool.size())
            .finish()
    }
}

/// The embedded migrations for SQLite, recorded in durin's own table
/// ([`MIGRATIONS_TABLE`]) so an application's `_sqlx_migrations` is left alone.
pub(crate) fn migrator() -> Migrator {
    let mut migrator = sqlx::migrate!("migrations/sqlite");
    migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
    migrator
}

impl SqliteStore {
    /// Opens (creating it when missing) the database at `url` (`sqlite://path`,
    /// `sqlite:path` or `sqlite::memory:`) with the default [`PoolConfig`]. Does not
    /// migrate: call [`SqliteStore::migrate`].
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the file cannot be opened;
    /// [`StoreError::Backend`] for a malformed URL.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, &PoolConfig::default()).await
    }

    /// Opens the database at `url` with `config` (its `statement_timeout` is SQLite's
    /// busy timeout: how long a writer waits for the write lock).
    ///
    /// # Errors
    /// As [`SqliteStore::connect`].
    pub async fn connect_with(url: &str, config: &PoolConfig) -> Result<Self, StoreError> {
        let (options, pool) = Self::options(url, config)?;
        let pool = pool
            .connect_with(options)
            .await
            .map_err(crate::error::map)?;
        Ok(Self { pool })
    }

    /// A store whose connections open on first use: building it never fails on a file
    /// that cannot be opened (its operations answer [`StoreError::Unavailable`] instead).
    ///
    /// # Errors
    /// [`StoreError::Backend`] for a malformed URL.
    pub fn connect_lazy(url: &str, config: &PoolConfig) -> Result<Self, StoreError> {
        let (options, pool) = Self::options(url, config)?;
        Ok(Self {
            pool: pool.connect_lazy_with(options),
        })
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

    /// Wraps a pool the application already has. For correct concurrency it should use
    /// WAL mode and a busy timeout, as [`SqliteStore::connect`] sets up.
    pub fn from_pool(pool: SqlitePool) -> Self {
        Self { pool }
    }

    /// The pool.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Applies durin's pending migrations (idempotent).
    ///
    /// # Errors
    /// [`StoreError`] when a migration fails or the file cannot be written.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        migrator()
            .run(&self.pool)
            .await
            .map_err(crate::migrate_error)
    }

    /// Closes the pool: later operations answer [`StoreError::Unavailable`].
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The invalidation channel of every process on this file (a polled log table);
    /// cheap, it shares the pool. See [`SqliteChannel`].
    pub fn channel(&self) -> SqliteChannel {
        SqliteChannel::new(self.pool.clone())
    }

    /// The immediate transaction serialises every writer, so no per-key lock is needed.
    async fn begin_attempts(
        &self,
        _keys: &[AttemptKey],
    ) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        self.begin_write().await
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        self.pool.begin_with("BEGIN IMMEDIATE").await
    }

    /// SQLite has one writer at a time: the immediate transaction already serialises
    /// every user's writes.
    async fn begin_user_write(
        &self,
        _user: &UserId,
    ) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        self.begin_write().await
    }
}

crate::sql::impl_sql_store!(SqliteStore, SqliteRow, "sqlite");
crate::settings::impl_settings_store!(SqliteStore);
crate::attempts::impl_attempt_limiter!(SqliteStore);
// SQLite's clock ("now" is one instant per statement), read after the statement has taken
// the write lock, so checks from several processes see time advance in lock order.
crate::throttle::impl_throttle!(
    SqliteStore,
    crate::throttle::gcra_sql!(
        now = "CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)",
        max = "MAX"
    )
);

#[async_trait::async_trait]
impl durin_core::Housekeeping for SqliteStore {
    async fn housekeeping(
        &self,
        attempt_window: Duration,
    ) -> Result<HousekeepingReport, StoreError> {
        let attempts = self
            .purge_attempts(SystemClock.now().saturating_sub(attempt_window))
            .await?;
        let throttle = sqlx::query(
            "DELETE FROM durin_throttle \
             WHERE tat < CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)",
        )
        .execute(&self.pool)
        .await
        .map_err(crate::error::map)?;
        let invalidations = self.channel().prune().await?;
        Ok(HousekeepingReport::new(
            attempts,
            throttle.rows_affected(),
            invalidations,
        ))
    }
}
