#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod admin;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod attempts;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod clients;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod dialect;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod error;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod leases;
#[cfg(feature = "postgres")]
mod pg_channel;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "postgres")]
mod replica;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod rows;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod settings;
#[cfg(feature = "sqlite")]
mod sqlite;
#[cfg(feature = "sqlite")]
mod sqlite_channel;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod store;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod throttle;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod tokens;

use std::time::Duration;

#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub use dialect::Dialect;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub use error::Error;
#[cfg(feature = "postgres")]
pub use pg_channel::PgChannel;
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
#[cfg(feature = "postgres")]
pub use replica::ReplicaOptions;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;
#[cfg(feature = "sqlite")]
pub use sqlite_channel::SqliteChannel;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub use store::SqlStore;

/// sqlx, re-exported so applications name the same version (`durin_sqlx::sqlx::PgPool`).
pub use sqlx;

/// The embedded PostgreSQL migrations ([`sqlx::migrate::Migrator`]), recorded in
/// [`MIGRATIONS_TABLE`].
#[cfg(feature = "postgres")]
pub fn postgres_migrator() -> sqlx::migrate::Migrator {
    postgres::migrator()
}

/// The embedded SQLite migrations, recorded in [`MIGRATIONS_TABLE`].
#[cfg(feature = "sqlite")]
pub fn sqlite_migrator() -> sqlx::migrate::Migrator {
    sqlite::migrator()
}

/// The table durin records its applied migrations in, apart from an application's own
/// `_sqlx_migrations`, so the two migrators never see each other's versions.
pub const MIGRATIONS_TABLE: &str = "_durin_migrations";

/// Connection-pool settings for both stores.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolConfig {
    /// The most connections the pool opens (SQLite in memory always uses one).
    pub max_connections: u32,
    /// Connections kept open while idle.
    pub min_connections: u32,
    /// How long an operation waits for a free connection (or, when none is open, for the
    /// server to accept one) before failing with `StoreError::Unavailable`.
    pub acquire_timeout: Duration,
    /// PostgreSQL: the server-side `statement_timeout`; SQLite: the busy timeout, how
    /// long a writer waits for the write lock. `None` leaves the backend's default.
    pub statement_timeout: Option<Duration>,
}

impl Default for PoolConfig {
    /// 16 connections (none kept idle), 5 s to acquire one, 5 s per statement.
    fn default() -> Self {
        Self {
            max_connections: 16,
            min_connections: 0,
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Some(Duration::from_secs(5)),
        }
    }
}

impl PoolConfig {
    /// Sets [`PoolConfig::max_connections`].
    pub fn with_max_connections(mut self, n: u32) -> Self {
        self.max_connections = n;
        self
    }

    /// Sets [`PoolConfig::min_connections`].
    pub fn with_min_connections(mut self, n: u32) -> Self {
        self.min_connections = n;
        self
    }

    /// Sets [`PoolConfig::acquire_timeout`].
    pub fn with_acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// Sets [`PoolConfig::statement_timeout`].
    pub fn with_statement_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.statement_timeout = timeout;
        self
    }
}

#[cfg(any(feature = "postgres", feature = "sqlite"))]
fn migrate_error(error: sqlx::migrate::MigrateError) -> durin_core::StoreError {
    match error {
        sqlx::migrate::MigrateError::Execute(e) => error::map(e),
        other => durin_core::StoreError::backend(other),
    }
}
