//! Fresh, isolated databases for the tests: a new PostgreSQL schema per test (in the
//! database of `DATABASE_URL`), a new SQLite file per test. A backend that cannot be
//! reached fails the test with a message: nothing skips.

#![allow(dead_code, unreachable_pub)]

pub mod nodes;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use durin_core::testing::unique;
use durin_sqlx::{PoolConfig, PostgresStore, SqliteStore};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// The PostgreSQL test database.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/durin_test".to_owned())
}

/// A new schema named after `unique`, lowercase.
fn schema_name() -> String {
    unique("durin_t").to_lowercase().replace('-', "_")
}

/// A migrated PostgreSQL store in a schema of its own.
pub async fn postgres() -> Arc<PostgresStore> {
    Arc::new(postgres_with(PgPoolOptions::new().max_connections(16)).await)
}

/// A migrated PostgreSQL store in a schema of its own, with these pool options.
pub async fn postgres_with(pool: PgPoolOptions) -> PostgresStore {
    let schema = new_schema().await;
    let store = postgres_in(&schema, pool, None).await;
    store.migrate().await.expect("migrate");
    store
}

/// Creates a new, empty schema and returns its name.
pub async fn new_schema() -> String {
    let url = database_url();
    let schema = schema_name();
    let admin = sqlx::PgPool::connect(&url).await.unwrap_or_else(|e| {
        panic!("PostgreSQL at {url} is unreachable ({e}); run scripts/services.sh")
    });
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&admin)
        .await
        .expect("create schema");
    admin.close().await;
    schema
}

/// A store on `schema` (not migrated here), its connections named `application_name`
/// when given (to find them in `pg_stat_activity`).
pub async fn postgres_in(
    schema: &str,
    pool: PgPoolOptions,
    application_name: Option<&str>,
) -> PostgresStore {
    let mut options = PgConnectOptions::from_str(&database_url())
        .expect("DATABASE_URL")
        .options([("search_path", schema)]);
    if let Some(name) = application_name {
        options = options.application_name(name);
    }
    let pool = pool.connect_with(options).await.unwrap_or_else(|e| {
        panic!(
            "PostgreSQL at {} is unreachable ({e}); run scripts/services.sh",
            database_url()
        )
    });
    PostgresStore::from_pool(pool)
}

/// Two migrated stores (two pools: two nodes) on one new schema.
pub async fn postgres_pair() -> (Arc<PostgresStore>, Arc<PostgresStore>) {
    let schema = new_schema().await;
    let a = postgres_in(&schema, PgPoolOptions::new().max_connections(16), None).await;
    a.migrate().await.expect("migrate");
    let b = postgres_in(&schema, PgPoolOptions::new().max_connections(16), None).await;
    (Arc::new(a), Arc::new(b))
}

/// Two migrated stores (two pools: two processes) on one new SQLite file.
pub async fn sqlite_pair() -> (Arc<SqliteStore>, Arc<SqliteStore>) {
    let url = sqlite_url();
    let a = SqliteStore::connect(&url).await.expect("open SQLite file");
    a.migrate().await.expect("migrate");
    let b = SqliteStore::connect(&url).await.expect("open SQLite file");
    (Arc::new(a), Arc::new(b))
}

/// A migrated SQLite store in a new file under the target's temp directory.
pub async fn sqlite_file() -> Arc<SqliteStore> {
    Arc::new(sqlite_file_with(&PoolConfig::default()).await)
}

/// The URL of a new SQLite file.
pub fn sqlite_url() -> String {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("durin-sqlx");
    std::fs::create_dir_all(&dir).expect("temp dir");
    format!(
        "sqlite://{}",
        dir.join(format!("{}.db", unique("t"))).display()
    )
}

/// A migrated SQLite store in a new file, with `config`.
pub async fn sqlite_file_with(config: &PoolConfig) -> SqliteStore {
    let store = SqliteStore::connect_with(&sqlite_url(), config)
        .await
        .expect("open SQLite file");
    store.migrate().await.expect("migrate");
    store
}

/// A migrated in-memory SQLite store.
pub async fn sqlite_memory() -> Arc<SqliteStore> {
    let store = SqliteStore::connect("sqlite::memory:")
        .await
        .expect("open SQLite in memory");
    store.migrate().await.expect("migrate");
    Arc::new(store)
}

/// A short pool config for outage tests.
pub fn impatient() -> PoolConfig {
    PoolConfig::default()
        .with_acquire_timeout(Duration::from_millis(500))
        .with_statement_timeout(Some(Duration::from_millis(300)))
}
