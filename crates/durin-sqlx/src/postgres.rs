//! [`PostgresStore`]: sessions and clients in PostgreSQL.

use std::str::FromStr;
use std::time::Duration;

use durin_core::{AttemptKey, AttemptLimiter as _, Clock as _, StoreError, SystemClock, UserId};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, Transaction};

use durin_core::HousekeepingReport;

use crate::{MIGRATIONS_TABLE, PgChannel, PoolConfig};

/// The first key of durin's advisory locks (`pg_advisory_xact_lock(int, int)`), so they
/// never collide with an application's single-key locks or other classes: `'du'`.
const LOCK_CLASS: i32 = 0x6475;
/// The first key of the failed-login limit's advisory locks: `'dl'`.
const ATTEMPT_LOCK_CLASS: i32 = 0x646c;

/// Sessions and clients in PostgreSQL, and what several nodes share through it: the
/// invalidation channel ([`PostgresStore::channel`]), the throttle and the failed-login
/// limit (`impl Throttle` and `impl AttemptLimiter`).
///
/// Every write that must be atomic across rows (login with eviction, logout-all) runs in
/// one transaction holding a per-user advisory lock, so concurrent logins of one user
/// queue behind each other for the few milliseconds of the insert and never leave more
/// sessions than the client allows. Lookups are one index probe by digest.
///
/// ```no_run
/// # async fn demo() -> Result<(), durin_core::StoreError> {
/// let store = durin_sqlx::PostgresStore::connect("postgres://postgres@127.0.0.1/app").await?;
/// store.migrate().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("connections", &self.pool.size())
            .finish()
    }
}

/// The embedded migrations for PostgreSQL, recorded in durin's own table
/// ([`MIGRATIONS_TABLE`]) so an application's `_sqlx_migrations` is left alone.
pub(crate) fn migrator() -> Migrator {
    let mut migrator = sqlx::migrate!("migrations/postgres");
    migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
    migrator
}

impl PostgresStore {
    /// Connects with the default [`PoolConfig`]; fails when the server cannot be
    /// reached. Does not migrate: call [`PostgresStore::migrate`].
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the server cannot be reached;
    /// [`StoreError::Backend`] for a malformed URL.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, &PoolConfig::default()).await
    }

    /// Connects with `config`.
    ///
    /// # Errors
    /// As [`PostgresStore::connect`].
    pub async fn connect_with(url: &str, config: &PoolConfig) -> Result<Self, StoreError> {
        let (options, pool) = Self::options(url, config)?;
        let pool = pool
            .connect_with(options)
            .await
            .map_err(crate::error::map)?;
        Ok(Self { pool })
    }

    /// A store whose connections open on first use: building it never fails on an
    /// unreachable server (its operations answer [`StoreError::Unavailable`] instead).
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
    ) -> Result<(PgConnectOptions, PgPoolOptions), StoreError> {
        let mut options = PgConnectOptions::from_str(url).map_err(StoreError::backend)?;
        if let Some(timeout) = config.statement_timeout {
            // The server cancels a statement that runs longer (SQLSTATE 57014, mapped to
            // Unavailable): a wedged database answers 503 instead of hanging requests.
            options = options.options([("statement_timeout", format!("{}", timeout.as_millis()))]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections)
            .min_connections(config.min_connections)
            .acquire_timeout(config.acquire_timeout);
        Ok((options, pool))
    }

    /// Wraps a pool the application already has.
    pub fn from_pool(pool: PgPool) -> Self {
        Self { pool }
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Applies durin's pending migrations (idempotent; concurrent callers are
    /// serialised by sqlx's migration lock).
    ///
    /// # Errors
    /// [`StoreError`] when a migration fails or the server cannot be reached.
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

    /// The invalidation channel of every node on this database and schema
    /// (`LISTEN`/`NOTIFY`); cheap, it shares the pool. See [`PgChannel`].
    pub fn channel(&self) -> PgChannel {
        PgChannel::new(self.pool.clone())
    }

    /// A transaction holding the advisory lock of each of `keys`, taken in sorted order so
    /// that two reservations sharing keys cannot deadlock. A lock is named by the first
    /// four bytes of the key's hash: keys that collide merely queue behind each other.
    async fn begin_attempts(
        &self,
        keys: &[AttemptKey],
    ) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        let mut locks: Vec<i32> = keys
            .iter()
            .map(|k| {
                let h = k.hash();
                i32::from_be_bytes([h[0], h[1], h[2], h[3]])
            })
            .collect();
        locks.sort_unstable();
        locks.dedup();
        let mut tx = self.pool.begin().await?;
        for lock in locks {
            sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
                .bind(ATTEMPT_LOCK_CLASS)
                .bind(lock)
                .execute(&mut *tx)
                .await?;
        }
        Ok(tx)
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        self.pool.begin().await
    }

    async fn begin_user_write(
        &self,
        user: &UserId,
    ) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        // One lock per transaction, always the same kind: no lock-order deadlock. Two
        // users whose ids hash alike merely queue behind each other.
        sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
            .bind(LOCK_CLASS)
            .bind(user.as_str())
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }
}

crate::sql::impl_sql_store!(PostgresStore, PgRow, "postgres");
crate::settings::impl_settings_store!(PostgresStore);
crate::attempts::impl_attempt_limiter!(PostgresStore);
// The server's clock, so nodes on hosts with skewed clocks agree. `statement_timestamp()`
// is one instant for the whole statement, so the decision and the new state agree.
crate::throttle::impl_throttle!(
    PostgresStore,
    crate::throttle::gcra_sql!(
        now = "(EXTRACT(EPOCH FROM statement_timestamp()) * 1000000)::BIGINT",
        max = "GREATEST"
    )
);

#[async_trait::async_trait]
impl durin_core::Housekeeping for PostgresStore {
    async fn housekeeping(
        &self,
        attempt_window: Duration,
    ) -> Result<HousekeepingReport, StoreError> {
        let attempts = self
            .purge_attempts(SystemClock.now().saturating_sub(attempt_window))
            .await?;
        let throttle = sqlx::query(
            "DELETE FROM durin_throttle \
             WHERE tat < (EXTRACT(EPOCH FROM statement_timestamp()) * 1000000)::BIGINT",
        )
        .execute(&self.pool)
        .await
        .map_err(crate::error::map)?;
        Ok(HousekeepingReport::new(
            attempts,
            throttle.rows_affected(),
            0,
        ))
    }
}
