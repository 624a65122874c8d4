//! The purge takes turns across nodes: two nodes (each its own `open`, its own pool or
//! connection, as two processes would have) on one PostgreSQL schema, one Redis prefix
//! and one SQLite file. While one holds the purge lease the other skips; after the
//! holder releases it, or once it has expired, the other runs.
//!
//! PostgreSQL and Redis come from `DATABASE_URL` and `REDIS_URL` (the defaults of
//! `scripts/services.sh`).

#![cfg(all(feature = "sqlite", feature = "postgres", feature = "redis"))]

use std::sync::Arc;
use std::time::Duration;

use durin_core::{DigestKey, ManualClock, Node, PurgeRun, SessionId};

fn suffix() -> String {
    SessionId::generate()
        .as_str()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(16)
        .collect::<String>()
        .to_ascii_lowercase()
}

/// Two nodes on `url`, sharing one manual clock (so expiry needs no waiting).
async fn two_nodes(url: &str) -> (Node, Node, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::starting_now());
    let key = DigestKey::generate("k1");
    let mut nodes = Vec::new();
    for _ in 0..2 {
        let backend = durin_connect::open(url).await.expect("open");
        backend.migrate().await.expect("migrate");
        let clock = clock.clone();
        let node = Node::builder(backend, key.clone())
            .without_tasks()
            .service(move |b| b.clock(clock))
            .start()
            .expect("a multi-node backend");
        nodes.push(node);
    }
    let b = nodes.pop().expect("two");
    let a = nodes.pop().expect("two");
    (a, b, clock)
}

async fn take_turns(url: &str) {
    let (a, b, clock) = two_nodes(url).await;
    let lease = Duration::from_secs(60);
    assert!(matches!(
        a.purge_once("node-a", lease).await.unwrap(),
        PurgeRun::Ran(_)
    ));
    assert_eq!(
        b.purge_once("node-b", lease).await.unwrap(),
        PurgeRun::Skipped,
        "B skips while A holds the lease"
    );
    clock.advance(Duration::from_secs(30));
    assert!(
        matches!(
            a.purge_once("node-a", lease).await.unwrap(),
            PurgeRun::Ran(_)
        ),
        "A renews its own lease"
    );
    clock.advance(Duration::from_secs(45));
    assert_eq!(
        b.purge_once("node-b", lease).await.unwrap(),
        PurgeRun::Skipped,
        "the renewal holds past the first lease's end"
    );
    // A released: B runs at once, and now A skips.
    a.release_purge_lease("node-a").await.unwrap();
    assert!(matches!(
        b.purge_once("node-b", lease).await.unwrap(),
        PurgeRun::Ran(_)
    ));
    assert_eq!(
        a.purge_once("node-a", lease).await.unwrap(),
        PurgeRun::Skipped
    );
    // B dies without releasing: once its lease has expired, A runs.
    clock.advance(lease);
    assert!(
        matches!(
            a.purge_once("node-a", lease).await.unwrap(),
            PurgeRun::Ran(_)
        ),
        "an expired lease is taken over"
    );
    assert_eq!(
        b.purge_once("node-b", lease).await.unwrap(),
        PurgeRun::Skipped
    );
}

#[tokio::test]
async fn postgres_nodes_take_turns() {
    let base = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/durin_test".to_owned());
    let schema = format!("lease_{}", suffix());
    let admin = sqlx::PgPool::connect(&base).await.expect("PostgreSQL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&admin)
        .await
        .expect("create schema");
    let sep = if base.contains('?') { '&' } else { '?' };
    take_turns(&format!("{base}{sep}options=-c%20search_path%3D{schema}")).await;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&admin)
        .await
        .expect("drop schema");
}

#[tokio::test]
async fn redis_nodes_take_turns() {
    let base = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let base = base.trim_end_matches('/');
    take_turns(&format!("{base}/?prefix=lease{}", suffix())).await;
}

#[tokio::test]
async fn sqlite_nodes_take_turns() {
    let dir = tempfile::tempdir().expect("temp dir");
    take_turns(&format!(
        "sqlite://{}",
        dir.path().join("durin.db").display()
    ))
    .await;
}
