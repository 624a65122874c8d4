//! [`PostgresStore`]: sessions and clients in PostgreSQL; what the [`Dialect`] of
//! [`sqlx::Postgres`] supplies.

use std::str::FromStr;
use std::sync::Arc;

use durin_core::{AttemptKey, Session, StoreError, TokenDigest, UserId};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};

use crate::dialect::{Dialect, Sealed};
use crate::replica::ReplicaRouter;
use crate::{MIGRATIONS_TABLE, PgChannel, PoolConfig, ReplicaOptions, SqlStore};

/// Sessions and clients in PostgreSQL, and what several nodes share through it: the
/// invalidation channel ([`SqlStore::channel`], a [`PgChannel`]), the throttle and the
/// failed-login limit (`impl Throttle` and `impl AttemptLimiter`).
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
pub type PostgresStore = SqlStore<Postgres>;

/// The first key of durin's advisory locks (`pg_advisory_xact_lock(int, int)`), so they
/// never collide with an application's single-key locks or other classes: `'du'`.
const LOCK_CLASS: i32 = 0x6475;
/// The first key of the failed-login limit's advisory locks: `'dl'`.
const ATTEMPT_LOCK_CLASS: i32 = 0x646c;

/// The server's clock in microseconds, so nodes on hosts with skewed clocks agree.
/// `statement_timestamp()` is one instant for the whole statement, so the throttle's
/// decision and its new state agree.
macro_rules! now_micros {
    () => {
        "(EXTRACT(EPOCH FROM statement_timestamp()) * 1000000)::BIGINT"
    };
}

/// The embedded migrations for PostgreSQL, recorded in durin's own table
/// ([`MIGRATIONS_TABLE`]) so an application's `_sqlx_migrations` is left alone.
pub(crate) fn migrator() -> Migrator {
    let mut migrator = sqlx::migrate!("migrations/postgres");
    migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
    migrator
}

impl Sealed for Postgres {}

impl Dialect for Postgres {
    const STORE: &'static str = "PostgresStore";
    const BACKEND: &'static str = "postgres";
    const THROTTLE_SQL: &'static str =
        crate::throttle::gcra_sql!(now = now_micros!(), max = "GREATEST");
    const PURGE_THROTTLE_SQL: &'static str =
        concat!("DELETE FROM durin_throttle WHERE tat < ", now_micros!());

    type Channel = PgChannel;
    type Routing = Option<Arc<ReplicaRouter>>;

    async fn get_session(
        store: &SqlStore<Self>,
        digest: &TokenDigest,
    ) -> Result<Option<Arc<Session>>, StoreError> {
        match &store.routing {
            Some(router) if router.has_replicas() => router
                .get(&store.pool, digest)
                .await
                .map(|(session, _)| session),
            _ => crate::tokens::fetch_session(&store.pool, digest).await,
        }
    }

    fn migrator() -> Migrator {
        migrator()
    }

    fn rows_affected(result: &sqlx::postgres::PgQueryResult) -> u64 {
        result.rows_affected()
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

    fn channel(pool: PgPool, routing: &Self::Routing) -> PgChannel {
        PgChannel::new(pool).routed(routing.clone())
    }

    /// `LISTEN`/`NOTIFY` keeps no rows.
    async fn prune_channel(_channel: &PgChannel) -> Result<u64, StoreError> {
        Ok(0)
    }

    async fn begin_write(pool: &PgPool) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        pool.begin().await
    }

    async fn begin_user_write(
        pool: &PgPool,
        user: &UserId,
    ) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        let mut tx = pool.begin().await?;
        // One lock per transaction, always the same kind: no lock-order deadlock. Two
        // users whose ids hash alike merely queue behind each other.
        sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
            .bind(LOCK_CLASS)
            .bind(user.as_str())
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }

    /// A transaction holding the advisory lock of each of `keys`, taken in sorted order so
    /// that two reservations sharing keys cannot deadlock. A lock is named by the first
    /// four bytes of the key's hash: keys that collide merely queue behind each other.
    async fn begin_attempts(
        pool: &PgPool,
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
        let mut tx = pool.begin().await?;
        for lock in locks {
            sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
                .bind(ATTEMPT_LOCK_CLASS)
                .bind(lock)
                .execute(&mut *tx)
                .await?;
        }
        Ok(tx)
    }
}

impl SqlStore<Postgres> {
    /// Connects to the primary at `url` and to the read replicas and listen URL of
    /// `replicas` (see [`ReplicaOptions`]): token lookups are spread over the replicas
    /// that are healthy and close enough, everything else stays on the primary.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the primary or a replica cannot be reached;
    /// [`StoreError::Backend`] for a malformed URL or a read URL that is not a replica
    /// (`pg_is_in_recovery()` false). The error names the URL, password redacted.
    pub async fn connect_with_replicas(
        url: &str,
        config: &PoolConfig,
        replicas: &ReplicaOptions,
    ) -> Result<Self, StoreError> {
        Self::connect_with(url, config)
            .await?
            .with_replicas(config, replicas)
            .await
    }

    /// This store (eager or lazy) with the read replicas and listen URL of `replicas`.
    /// The replicas are connected now, whatever the primary's state: a bad read URL is
    /// refused at startup.
    ///
    /// # Errors
    /// As [`SqlStore::connect_with_replicas`], for the replicas and the listen URL.
    pub async fn with_replicas(
        mut self,
        config: &PoolConfig,
        replicas: &ReplicaOptions,
    ) -> Result<Self, StoreError> {
        self.routing = Some(ReplicaRouter::connect(&self.pool, config, replicas).await?);
        Ok(self)
    }

    /// Whether a lookup now may be answered by a replica: one is healthy and close
    /// enough, a subscription of this store's channel is live and no tombstone for
    /// everything is pending. For tests and diagnostics.
    pub fn reads_replicas(&self) -> bool {
        self.routing.as_ref().is_some_and(|r| r.usable())
    }
}
