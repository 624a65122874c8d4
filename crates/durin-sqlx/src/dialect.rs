//! [`Dialect`]: what differs between PostgreSQL and SQLite under one generic store.
//!
//! Both databases accept the same statements here (SQLite reads `$N` placeholders, and
//! both have `RETURNING` and `ON CONFLICT`), so [`SqlStore`](crate::SqlStore) is written
//! once; a dialect supplies only how a write transaction begins, the clock and maximum
//! in the throttle's SQL, the migrations, the invalidation channel and the connect
//! options.
//!
//! rustc does not carry a trait's `where` clauses to its users (only supertraits and
//! bounds on associated types), so the sqlx bounds the generic SQL needs
//! (`i64: Encode<DB>`, `&mut DB::Connection: Executor`, ...) are proved once, by the
//! blanket impls of the sealed helper traits below, and reach every `impl<D: Dialect>` as
//! supertraits of [`Dialect`]: the impl blocks need no `where` clause.

use std::future::Future;
use std::sync::Arc;

use durin_core::{AttemptKey, InvalidationChannel, Session, StoreError, TokenDigest, UserId};
use sqlx::migrate::{Migrate, Migrator};
use sqlx::pool::PoolOptions;
use sqlx::query::Query;
use sqlx::query_builder::Separated;
use sqlx::{ColumnIndex, Connection, Database, Decode, Encode, Executor, IntoArguments};
use sqlx::{Pool, Transaction, Type};

use crate::PoolConfig;

/// A database [`SqlStore`](crate::SqlStore) runs on: [`sqlx::Postgres`]
/// ([`PostgresStore`](crate::PostgresStore)) or [`sqlx::Sqlite`]
/// ([`SqliteStore`](crate::SqliteStore)).
///
/// Sealed: the store's SQL is written for exactly these two (`$N` placeholders,
/// `RETURNING`, `ON CONFLICT`, the lock each write takes), which no type bound can check
/// for a third database; sealing also lets the trait grow without a breaking change. Its
/// items are hidden from the docs: they are how the store is built, not an API.
pub trait Dialect:
    Database<Arguments: IntoArguments<Self> + Default, Connection: Migrate>
    + sealed::Sealed
    + sealed::Executes
    + sealed::Binds<i32>
    + sealed::Binds<i64>
    + sealed::Binds<Option<i64>>
    + sealed::Binds<String>
    + sealed::Binds<Option<Vec<u8>>>
    + sealed::BindsRefs
    + sealed::Reads<i32>
    + sealed::Reads<i64>
    + sealed::Reads<Option<i64>>
    + sealed::Reads<String>
    + sealed::Reads<Option<String>>
    + sealed::Reads<Vec<u8>>
    + sealed::Reads<Option<Vec<u8>>>
{
    /// The store's type name, for `Debug`.
    #[doc(hidden)]
    const STORE: &'static str;

    /// The backend's name (`durin_core::Backend::name`).
    #[doc(hidden)]
    const BACKEND: &'static str;

    /// The throttle's GCRA statement, with this database's clock and two-argument maximum
    /// (see `throttle.rs`).
    #[doc(hidden)]
    const THROTTLE_SQL: &'static str;

    /// Deletes the throttle rows whose TAT is past, by the same clock.
    #[doc(hidden)]
    const PURGE_THROTTLE_SQL: &'static str;

    /// The rows a statement changed.
    #[doc(hidden)]
    fn rows_affected(result: &Self::QueryResult) -> u64;

    /// The invalidation channel the store hands out.
    type Channel: InvalidationChannel + Clone;

    /// What the store routes its lookups by besides its pool (PostgreSQL: the read
    /// replicas, `replica.rs`; SQLite: nothing).
    #[doc(hidden)]
    type Routing: Clone + Default + Send + Sync + 'static;

    /// `TokenStore::get`: the session of `digest`.
    #[doc(hidden)]
    fn get_session(
        store: &crate::SqlStore<Self>,
        digest: &TokenDigest,
    ) -> impl Future<Output = Result<Option<Arc<Session>>, StoreError>> + Send;

    /// The embedded migrations, recorded in [`MIGRATIONS_TABLE`](crate::MIGRATIONS_TABLE).
    #[doc(hidden)]
    fn migrator() -> Migrator;

    /// The connect and pool options for `url` and `config`.
    #[doc(hidden)]
    fn options(
        url: &str,
        config: &PoolConfig,
    ) -> Result<(ConnectOptions<Self>, PoolOptions<Self>), StoreError>;

    /// The channel of every node on `pool`'s database.
    #[doc(hidden)]
    fn channel(pool: Pool<Self>, routing: &Self::Routing) -> Self::Channel;

    /// What housekeeping prunes of the channel (rows of a log table); `0` for none.
    #[doc(hidden)]
    fn prune_channel(
        channel: &Self::Channel,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// A transaction holding the write lock a multi-statement write needs.
    #[doc(hidden)]
    fn begin_write(
        pool: &Pool<Self>,
    ) -> impl Future<Output = Result<Transaction<'static, Self>, sqlx::Error>> + Send;

    /// The same, serialised per user: logins, evictions and logout-all of one user.
    #[doc(hidden)]
    fn begin_user_write(
        pool: &Pool<Self>,
        user: &UserId,
    ) -> impl Future<Output = Result<Transaction<'static, Self>, sqlx::Error>> + Send;

    /// A transaction serialising every writer of `keys` (the failed-login limit).
    #[doc(hidden)]
    fn begin_attempts(
        pool: &Pool<Self>,
        keys: &[AttemptKey],
    ) -> impl Future<Output = Result<Transaction<'static, Self>, sqlx::Error>> + Send;
}

/// A database's connect options.
pub(crate) type ConnectOptions<D> = <<D as Database>::Connection as Connection>::Options;

pub(crate) use sealed::{Binds, BindsRefs, Reads, Sealed};

/// Binds `value` to the next placeholder: [`Query::bind`] for the types [`Dialect`]
/// proves encodable.
pub(crate) trait Arg: Sized {
    /// The database.
    type Db: Database;
    /// Appends `value`.
    fn arg<T>(self, value: T) -> Self
    where
        Self::Db: Binds<T>;
    /// Appends a `&str`.
    fn arg_str(self, value: &str) -> Self
    where
        Self::Db: BindsRefs;
    /// Appends an optional `&str`.
    fn arg_opt_str(self, value: Option<&str>) -> Self
    where
        Self::Db: BindsRefs;
    /// Appends bytes.
    fn arg_bytes(self, value: &[u8]) -> Self
    where
        Self::Db: BindsRefs;
}

impl<'q, D: Database> Arg for Query<'q, D, D::Arguments> {
    type Db = D;
    fn arg<T>(self, value: T) -> Self
    where
        D: Binds<T>,
    {
        <D as Binds<T>>::bind(self, value)
    }
    fn arg_str(self, value: &str) -> Self
    where
        D: BindsRefs,
    {
        D::bind_str(self, value)
    }
    fn arg_opt_str(self, value: Option<&str>) -> Self
    where
        D: BindsRefs,
    {
        D::bind_opt_str(self, value)
    }
    fn arg_bytes(self, value: &[u8]) -> Self
    where
        D: BindsRefs,
    {
        D::bind_bytes(self, value)
    }
}

/// Column `index` of `row`, decoded.
pub(crate) fn get<D: Reads<T>, T>(row: &D::Row, index: usize) -> Result<T, StoreError> {
    <D as Reads<T>>::read(row, index).map_err(crate::error::map)
}

/// Appends a bound value to a `VALUES` tuple of a query builder.
pub(crate) fn push<D: Binds<T>, T>(tuple: &mut Separated<'_, D, &'static str>, value: T) {
    <D as Binds<T>>::push(tuple, value);
}

mod sealed {
    use super::*;

    /// Only durin-sqlx implements [`Dialect`](super::Dialect).
    pub trait Sealed {}

    /// The database's connections and pools are executors.
    pub trait Executes: Database {
        /// A connection (of a transaction) as an executor.
        fn conn(conn: &mut Self::Connection) -> impl Executor<'_, Database = Self>;
        /// A pool as an executor: one connection per statement.
        fn pool(pool: &Pool<Self>) -> impl Executor<'_, Database = Self>;
    }

    impl<DB: Database> Executes for DB
    where
        for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    {
        fn conn(conn: &mut Self::Connection) -> impl Executor<'_, Database = Self> {
            conn
        }
        fn pool(pool: &Pool<Self>) -> impl Executor<'_, Database = Self> {
            pool
        }
    }

    /// `T` binds to a placeholder.
    pub trait Binds<T>: Database {
        /// [`Query::bind`].
        fn bind<'q>(
            query: Query<'q, Self, Self::Arguments>,
            value: T,
        ) -> Query<'q, Self, Self::Arguments>;
        /// [`Separated::push_bind`].
        fn push(tuple: &mut Separated<'_, Self, &'static str>, value: T);
    }

    impl<DB: Database, T> Binds<T> for DB
    where
        T: for<'q> Encode<'q, DB> + Type<DB>,
    {
        fn bind<'q>(
            query: Query<'q, Self, Self::Arguments>,
            value: T,
        ) -> Query<'q, Self, Self::Arguments> {
            query.bind(value)
        }
        fn push(tuple: &mut Separated<'_, Self, &'static str>, value: T) {
            tuple.push_bind(value);
        }
    }

    /// Borrowed strings and bytes bind to a placeholder (apart from [`Binds`], whose
    /// blanket impl would need a higher-ranked supertrait for them).
    pub trait BindsRefs: Database {
        /// Binds a `&str`.
        fn bind_str<'q>(
            query: Query<'q, Self, Self::Arguments>,
            value: &str,
        ) -> Query<'q, Self, Self::Arguments>;
        /// Binds an optional `&str`.
        fn bind_opt_str<'q>(
            query: Query<'q, Self, Self::Arguments>,
            value: Option<&str>,
        ) -> Query<'q, Self, Self::Arguments>;
        /// Binds bytes.
        fn bind_bytes<'q>(
            query: Query<'q, Self, Self::Arguments>,
            value: &[u8],
        ) -> Query<'q, Self, Self::Arguments>;
        /// Pushes a `&str`.
        fn push_str(tuple: &mut Separated<'_, Self, &'static str>, value: &str);
        /// Pushes an optional `&str`.
        fn push_opt_str(tuple: &mut Separated<'_, Self, &'static str>, value: Option<&str>);
        /// Pushes bytes.
        fn push_bytes(tuple: &mut Separated<'_, Self, &'static str>, value: &[u8]);
    }

    impl<DB: Database> BindsRefs for DB
    where
        for<'a> &'a str: Encode<'a, DB> + Type<DB>,
        for<'a> Option<&'a str>: Encode<'a, DB> + Type<DB>,
        for<'a> &'a [u8]: Encode<'a, DB> + Type<DB>,
    {
        fn bind_str<'q>(
            query: Query<'q, Self, Self::Arguments>,
            value: &str,
        ) -> Query<'q, Self, Self::Arguments> {
            query.bind(value)
        }
        fn bind_opt_str<'q>(
            query: Query<'q, Self, Self::Arguments>,
            value: Option<&str>,
        ) -> Query<'q, Self, Self::Arguments> {
            query.bind(value)
        }
        fn bind_bytes<'q>(
            query: Query<'q, Self, Self::Arguments>,
            value: &[u8],
        ) -> Query<'q, Self, Self::Arguments> {
            query.bind(value)
        }
        fn push_str(tuple: &mut Separated<'_, Self, &'static str>, value: &str) {
            tuple.push_bind(value);
        }
        fn push_opt_str(tuple: &mut Separated<'_, Self, &'static str>, value: Option<&str>) {
            tuple.push_bind(value);
        }
        fn push_bytes(tuple: &mut Separated<'_, Self, &'static str>, value: &[u8]) {
            tuple.push_bind(value);
        }
    }

    /// `T` decodes from a column.
    pub trait Reads<T>: Database {
        /// [`sqlx::Row::try_get`] by position.
        fn read(row: &Self::Row, index: usize) -> Result<T, sqlx::Error>;
    }

    impl<DB: Database, T> Reads<T> for DB
    where
        T: for<'r> Decode<'r, DB> + Type<DB>,
        usize: ColumnIndex<DB::Row>,
    {
        fn read(row: &Self::Row, index: usize) -> Result<T, sqlx::Error> {
            sqlx::Row::try_get(row, index)
        }
    }
}
