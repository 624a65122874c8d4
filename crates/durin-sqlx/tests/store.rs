//! Behaviour beyond the conformance suites: outages, timeouts, migrations, bulk purge.

mod common;

use std::sync::Arc;
use std::time::Duration;

use durin_core::testing::{client, digest, keep, now, session, user};
use durin_core::{
    AuthError, Client, ClientStore, DigestKey, Durin, LoginOptions, StoreError, TokenStore,
};
use durin_sqlx::{PoolConfig, PostgresStore, SqliteStore};
use sqlx::postgres::PgPoolOptions;

fn unavailable<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    match result {
        Err(e) if e.is_unavailable() => {}
        other => panic!("expected StoreError::Unavailable, got {other:?}"),
    }
}

/// Port 1 on loopback: nothing listens there.
const DEAD_POSTGRES: &str = "postgres://postgres@127.0.0.1:1/durin";

#[tokio::test]
async fn connecting_to_a_dead_port_is_unavailable() {
    unavailable(PostgresStore::connect_with(DEAD_POSTGRES, &common::impatient()).await);
}

#[tokio::test]
async fn a_lazy_store_on_a_dead_port_answers_unavailable_per_operation() {
    let store = PostgresStore::connect_lazy(DEAD_POSTGRES, &common::impatient()).unwrap();
    unavailable(store.get(&digest()).await);
    unavailable(
        store
            .insert(&session(&user(), &client(), now()), keep(1, now()))
            .await,
    );
    unavailable(store.get_client(&client()).await);
    // And through the service: 503 material, never "invalid token".
    let store = Arc::new(store);
    let durin = Durin::builder(store.clone(), store, DigestKey::generate("k1")).build();
    let login = durin
        .login(&user(), &client(), LoginOptions::default())
        .await;
    assert!(matches!(login, Err(AuthError::Unavailable(_))), "{login:?}");
    let token = durin_core::TokenString::generate(&durin_core::TokenPrefix::default());
    let auth = durin
        .authenticate(&token, durin_core::Transport::Header)
        .await;
    assert!(matches!(auth, Err(AuthError::Unavailable(_))), "{auth:?}");
}

#[tokio::test]
async fn a_pool_closed_mid_test_is_unavailable() {
    let store = common::postgres().await;
    let s = session(&user(), &client(), now());
    store.insert(&s, keep(1, now())).await.unwrap();
    assert!(store.get(&s.digest).await.unwrap().is_some());
    store.close().await;
    unavailable(store.get(&s.digest).await);
    unavailable(
        store
            .remove_user(&s.user_id, None, durin_core::Removal::Delete)
            .await,
    );

    let sqlite = common::sqlite_file().await;
    sqlite.insert(&s, keep(1, now())).await.unwrap();
    sqlite.close().await;
    unavailable(sqlite.get(&s.digest).await);
}

#[tokio::test]
async fn an_unopenable_sqlite_file_is_unavailable() {
    unavailable(SqliteStore::connect("sqlite:///nonexistent-dir/durin/x.db").await);
}

/// A login blocked behind another transaction's lock for longer than the statement
/// timeout is cancelled by the server and reported as unavailable, not hung.
#[tokio::test]
async fn a_postgres_statement_timeout_is_unavailable() {
    let store = common::postgres_with(PgPoolOptions::new().after_connect(|conn, _| {
        Box::pin(async move {
            sqlx::query("SET statement_timeout = 300")
                .execute(conn)
                .await
                .map(|_| ())
        })
    }))
    .await;
    let u = user();
    let blocker = sqlx::PgPool::connect(&common::database_url())
        .await
        .unwrap();
    let mut tx = blocker.begin().await.unwrap();
    sqlx::query("SELECT pg_advisory_xact_lock(25717, hashtext($1))")
        .bind(u.as_str())
        .execute(&mut *tx)
        .await
        .unwrap();
    unavailable(
        store
            .insert(&session(&u, &client(), now()), keep(1, now()))
            .await,
    );
    tx.rollback().await.unwrap();
    // Once the lock is gone, the same login goes through.
    store
        .insert(&session(&u, &client(), now()), keep(1, now()))
        .await
        .unwrap();
}

/// The same for SQLite: a writer that cannot get the write lock within the busy timeout.
#[tokio::test]
async fn a_sqlite_busy_timeout_is_unavailable() {
    let url = common::sqlite_url();
    let store = SqliteStore::connect_with(
        &url,
        &PoolConfig::default().with_statement_timeout(Some(Duration::from_millis(200))),
    )
    .await
    .unwrap();
    store.migrate().await.unwrap();
    let other = SqliteStore::connect(&url).await.unwrap();
    let tx = other.pool().begin_with("BEGIN IMMEDIATE").await.unwrap();
    unavailable(
        store
            .insert(&session(&user(), &client(), now()), keep(1, now()))
            .await,
    );
    tx.rollback().await.unwrap();
    store
        .insert(&session(&user(), &client(), now()), keep(1, now()))
        .await
        .unwrap();
}

/// durin keeps its migration history apart from the application's.
#[tokio::test]
async fn migrations_use_their_own_table_and_are_idempotent() {
    let store = common::postgres().await;
    store.migrate().await.unwrap();
    let tables: Vec<(String,)> = sqlx::query_as(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = current_schema() ORDER BY 1",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    let tables: Vec<&str> = tables.iter().map(|(t,)| t.as_str()).collect();
    // durin's own history table, never the application's `_sqlx_migrations`, and only
    // tables of its own.
    assert_eq!(tables.first(), Some(&"_durin_migrations"), "{tables:?}");
    assert!(!tables.contains(&"_sqlx_migrations"), "{tables:?}");
    assert!(
        tables[1..].iter().all(|t| t.starts_with("durin_")),
        "{tables:?}"
    );
    for table in [
        "durin_clients",
        "durin_sessions",
        "durin_rotated_refresh",
        "durin_settings",
    ] {
        assert!(tables.contains(&table), "{table} missing from {tables:?}");
    }
    let applied: Vec<(i64,)> = sqlx::query_as("SELECT version FROM _durin_migrations")
        .fetch_all(store.pool())
        .await
        .unwrap();
    assert_eq!(
        applied.len(),
        durin_sqlx::postgres_migrator().iter().count()
    );

    let sqlite = common::sqlite_file().await;
    sqlite.migrate().await.unwrap();
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM _durin_migrations")
        .fetch_one(sqlite.pool())
        .await
        .unwrap();
    assert_eq!(n as usize, durin_sqlx::sqlite_migrator().iter().count());
    let (sqlx_table,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM sqlite_master WHERE name = '_sqlx_migrations'")
            .fetch_one(sqlite.pool())
            .await
            .unwrap();
    assert_eq!(sqlx_table, 0);
}

/// A client policy written by a newer durin is reported corrupt, not misread.
#[tokio::test]
async fn an_unknown_client_format_is_corrupt() {
    let store = common::sqlite_memory().await;
    let name = client();
    store
        .create_client(&Client::new(name.clone()))
        .await
        .unwrap();
    sqlx::query("UPDATE durin_clients SET format = 99")
        .execute(store.pool())
        .await
        .unwrap();
    assert!(matches!(
        store.get_client(&name).await,
        Err(StoreError::Corrupt(_))
    ));
}

/// Purging thousands of expired sessions goes in bounded batches and leaves live ones.
async fn bulk_purge(store: Arc<dyn TokenStore>) {
    let t = now();
    let u = user();
    let expired = 2500;
    for _ in 0..expired {
        let mut s = session(&u, &client(), t.saturating_sub(Duration::from_secs(9000)));
        s.expires_at = Some(t.saturating_sub(Duration::from_secs(8000)));
        store.insert(&s, keep(5, t)).await.unwrap();
    }
    let live = session(&u, &client(), t);
    store.insert(&live, keep(5, t)).await.unwrap();
    let cutoff = t.saturating_sub(Duration::from_secs(3600));
    let mut batches = Vec::new();
    loop {
        let n = store.purge_expired(cutoff, 1000).await.unwrap();
        batches.push(n);
        if n < 1000 {
            break;
        }
    }
    assert_eq!(batches, [1000, 1000, 500]);
    assert_eq!(store.list_by_user(&u).await.unwrap(), [live]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bulk_purge_postgres() {
    bulk_purge(common::postgres().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bulk_purge_sqlite() {
    bulk_purge(common::sqlite_file().await).await;
}

/// The background task purges without being asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_purge_task_runs_on_its_interval() {
    let store = common::sqlite_memory().await;
    let t = now();
    let mut s = session(
        &user(),
        &client(),
        t.saturating_sub(Duration::from_secs(9000)),
    );
    s.expires_at = Some(t.saturating_sub(Duration::from_secs(8000)));
    store.insert(&s, keep(1, t)).await.unwrap();
    let node = durin_core::Node::builder(store.clone(), DigestKey::generate("k1"))
        .purge_every(Duration::from_millis(50))
        .start()
        .unwrap();
    let mut gone = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if store.get(&s.digest).await.unwrap().is_none() {
            gone = true;
            break;
        }
    }
    node.shutdown().await;
    assert!(gone, "the purge task never removed the expired session");
}
