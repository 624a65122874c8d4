//! [`SqlStore`]: the store both databases share, connecting (eager or lazy), migrating,
//! and the [`durin_core::Backend`] it is.

use std::sync::Arc;
use std::time::Duration;

use durin_core::{AttemptLimiter as _, Clock as _, HousekeepingReport, StoreError, SystemClock};
use sqlx::Pool;

use crate::PoolConfig;
use crate::dialect::Dialect;
use crate::error::map;

/// Sessions and clients in an SQL database, and what several nodes share through it: the
/// invalidation channel ([`SqlStore::channel`]), the throttle and the failed-login limit
/// (`impl Throttle` and `impl AttemptLimiter`). Named by its [`Dialect`]:
/// [`PostgresStore`](crate::PostgresStore) and [`SqliteStore`](crate::SqliteStore).
pub struct SqlStore<D: Dialect> {
    pub(crate) pool: Pool<D>,
    /// PostgreSQL: the read replicas and the listen URL, when configured.
    pub(crate) routing: D::Routing,
}

impl<D: Dialect> Clone for SqlStore<D> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            routing: self.routing.clone(),
        }
    }
}

impl<D: Dialect> std::fmt::Debug for SqlStore<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(D::STORE)
            .field("connections", &self.pool.size())
            .finish()
    }
}

impl<D: Dialect> SqlStore<D> {
    /// Connects with the default [`PoolConfig`] (SQLite: opens the file, creating it when
    /// missing; `sqlite::memory:` keeps one connection). Does not migrate: call
    /// [`SqlStore::migrate`].
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the server cannot be reached or the file cannot be
    /// opened; [`StoreError::Backend`] for a malformed URL.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, &PoolConfig::default()).await
    }

    /// Connects with `config` (SQLite: its `statement_timeout` is the busy timeout, how
    /// long a writer waits for the write lock).
    ///
    /// # Errors
    /// As [`SqlStore::connect`].
    pub async fn connect_with(url: &str, config: &PoolConfig) -> Result<Self, StoreError> {
        let (options, pool) = D::options(url, config)?;
        let pool = pool.connect_with(options).await.map_err(map)?;
        Ok(Self::from_pool(pool))
    }

    /// A store whose connections open on first use: building it never fails on an
    /// unreachable server or a file that cannot be opened (its operations answer
    /// [`StoreError::Unavailable`] instead).
    ///
    /// # Errors
    /// [`StoreError::Backend`] for a malformed URL.
    pub fn connect_lazy(url: &str, config: &PoolConfig) -> Result<Self, StoreError> {
        let (options, pool) = D::options(url, config)?;
        Ok(Self::from_pool(pool.connect_lazy_with(options)))
    }

    /// Wraps a pool the application already has. SQLite: for correct concurrency it
    /// should use WAL mode and a busy timeout, as [`SqlStore::connect`] sets up.
    pub fn from_pool(pool: Pool<D>) -> Self {
        Self {
            pool,
            routing: D::Routing::default(),
        }
    }

    /// The pool.
    pub fn pool(&self) -> &Pool<D> {
        &self.pool
    }

    /// Applies durin's pending migrations (idempotent; concurrent PostgreSQL callers are
    /// serialised by sqlx's migration lock).
    ///
    /// # Errors
    /// [`StoreError`] when a migration fails or the database cannot be reached or written.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        D::migrator()
            .run(&self.pool)
            .await
            .map_err(crate::migrate_error)
    }

    /// Closes the pool: later operations answer [`StoreError::Unavailable`].
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The invalidation channel of every node on this database (PostgreSQL: this schema,
    /// `LISTEN`/`NOTIFY`, see [`PgChannel`](crate::PgChannel); SQLite: this file, a
    /// polled log table, see [`SqliteChannel`](crate::SqliteChannel)); cheap, it shares
    /// the pool.
    pub fn channel(&self) -> D::Channel {
        D::channel(self.pool.clone(), &self.routing)
    }

    /// The pool as an executor, one statement per connection checkout.
    pub(crate) fn db(&self) -> impl sqlx::Executor<'_, Database = D> {
        D::pool(&self.pool)
    }
}

#[async_trait::async_trait]
impl<D: Dialect> durin_core::Housekeeping for SqlStore<D> {
    async fn housekeeping(
        &self,
        attempt_window: Duration,
    ) -> Result<HousekeepingReport, StoreError> {
        let attempts = self
            .purge_attempts(SystemClock.now().saturating_sub(attempt_window))
            .await?;
        let throttle = sqlx::query(D::PURGE_THROTTLE_SQL)
            .execute(self.db())
            .await
            .map_err(map)?;
        let invalidations = D::prune_channel(&self.channel()).await?;
        Ok(HousekeepingReport::new(
            attempts,
            D::rows_affected(&throttle),
            invalidations,
        ))
    }
}

#[async_trait::async_trait]
impl<D: Dialect> durin_core::Backend for SqlStore<D> {
    fn name(&self) -> &'static str {
        D::BACKEND
    }
    fn tokens(self: Arc<Self>) -> Arc<dyn durin_core::TokenStore> {
        self
    }
    fn clients(self: Arc<Self>) -> Arc<dyn durin_core::ClientStore> {
        self
    }
    fn admin(self: Arc<Self>) -> Option<Arc<dyn durin_core::SessionAdmin>> {
        Some(self)
    }
    fn settings(self: Arc<Self>) -> Option<Arc<dyn durin_core::SettingsStore>> {
        Some(self)
    }
    fn throttle(self: Arc<Self>) -> Option<Arc<dyn durin_core::Throttle>> {
        Some(self)
    }
    fn attempts(self: Arc<Self>) -> Option<Arc<dyn durin_core::AttemptLimiter>> {
        Some(self)
    }
    fn channel(self: Arc<Self>) -> Option<Arc<dyn durin_core::InvalidationChannel>> {
        Some(Arc::new(SqlStore::channel(&self)))
    }
    fn leases(self: Arc<Self>) -> Option<Arc<dyn durin_core::Leases>> {
        Some(self)
    }
    fn housekeeping(self: Arc<Self>) -> Option<Arc<dyn durin_core::Housekeeping>> {
        Some(self)
    }
    fn import(self: Arc<Self>) -> Option<Arc<dyn durin_core::SessionImport>> {
        Some(self)
    }
    fn has_migrations(&self) -> bool {
        true
    }
    async fn migrate(&self) -> Result<(), StoreError> {
        SqlStore::migrate(self).await
    }
    async fn close(&self) {
        SqlStore::close(self).await;
    }
}
