//! Authenticate and login throughput on PostgreSQL and SQLite, each beside a raw sqlx
//! `SELECT ... WHERE digest = $1` of the same row on the same table, in the same run, with
//! 10,000 and 1,000,000 stored sessions.
//!
//! Run with `bash scripts/services.sh && cargo bench -p durin-sqlx --bench sqlx`
//! (`DATABASE_URL` defaults to `postgres://postgres@127.0.0.1:5432/durin_test`). The
//! populated schemas (`durin_bench_<n>`) and SQLite files (under `target/`) are kept and
//! reused by later runs. After criterion's report, the bench prints each figure as a ratio
//! to the raw query, measured interleaved, sequentially and with 16 requests in flight.

use std::hint::black_box;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use durin_core::{
    Client, ClientName, ClientStore, Clock, DigestKey, Durin, LoginOptions, SystemClock,
    TokenHasher, TokenStore, TokenString, Transport, UserId,
};
use durin_sqlx::{PostgresStore, SqliteStore};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio::runtime::Runtime;

const SIZES: [u64; 2] = [10_000, 1_000_000];

/// The raw baseline: the same columns durin reads, by digest, through the same pool.
const RAW: &str = "SELECT id, digest, user_id, client, created_at, expires_at, renewed_at, \
     last_used_at, scopes, context, transport, revoked_at, refresh_digest, refresh_expires_at \
     FROM durin_sessions WHERE digest = $1";

#[derive(Clone)]
enum Pool {
    Pg(sqlx::PgPool),
    Lite(sqlx::SqlitePool),
}

impl Pool {
    async fn raw(&self, digest: &[u8]) {
        match self {
            Pool::Pg(p) => {
                let row = sqlx::query(RAW)
                    .bind(digest)
                    .fetch_optional(p)
                    .await
                    .unwrap();
                black_box(row.expect("row"));
            }
            Pool::Lite(p) => {
                let row = sqlx::query(RAW)
                    .bind(digest)
                    .fetch_optional(p)
                    .await
                    .unwrap();
                black_box(row.expect("row"));
            }
        }
    }
}

struct Case {
    name: String,
    durin: Durin,
    pool: Pool,
    token: TokenString,
    digest: Vec<u8>,
    client: ClientName,
}

fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/durin_test".to_owned())
}

async fn postgres(n: u64) -> (Arc<PostgresStore>, Pool) {
    let url = database_url();
    let schema = format!("durin_bench_{n}");
    let admin = sqlx::PgPool::connect(&url)
        .await
        .expect("PostgreSQL unreachable: run scripts/services.sh");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE SCHEMA IF NOT EXISTS {schema}"
    )))
    .execute(&admin)
    .await
    .unwrap();
    admin.close().await;
    let options = PgConnectOptions::from_str(&url)
        .unwrap()
        .options([("search_path", schema.as_str())]);
    let pool = PgPoolOptions::new()
        .max_connections(16)
        .connect_with(options)
        .await
        .unwrap();
    let store = PostgresStore::from_pool(pool.clone());
    store.migrate().await.unwrap();
    let (have,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM durin_sessions WHERE client = 'filler'")
            .fetch_one(&pool)
            .await
            .unwrap();
    if have as u64 != n {
        eprintln!("populating PostgreSQL schema {schema} with {n} sessions...");
        sqlx::query("DELETE FROM durin_sessions")
            .execute(&pool)
            .await
            .unwrap();
        let now = SystemClock.now().as_millis();
        sqlx::query(
            "INSERT INTO durin_sessions (id, digest, user_id, client, created_at, expires_at, \
             scopes, context, transport) \
             SELECT 'filler' || i, sha256(('filler' || i)::bytea), 'user' || i, 'filler', \
             $1, $2, '[]', '{}', 'header' FROM generate_series(1, $3) AS i",
        )
        .bind(now)
        .bind(now + 365 * 86_400_000)
        .bind(n as i64)
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query("ANALYZE durin_sessions")
            .execute(&pool)
            .await
            .unwrap();
    }
    (Arc::new(store), Pool::Pg(pool))
}

async fn sqlite(n: u64) -> (Arc<SqliteStore>, Pool) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/durin-bench");
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!(
        "sqlite://{}",
        dir.join(format!("sessions-{n}.db")).display()
    );
    let store = SqliteStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let pool = store.pool().clone();
    let (have,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM durin_sessions WHERE client = 'filler'")
            .fetch_one(&pool)
            .await
            .unwrap();
    if have as u64 != n {
        eprintln!("populating SQLite file with {n} sessions...");
        sqlx::query("DELETE FROM durin_sessions")
            .execute(&pool)
            .await
            .unwrap();
        let now = SystemClock.now().as_millis();
        sqlx::query(
            "WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < $3) \
             INSERT INTO durin_sessions (id, digest, user_id, client, created_at, expires_at, \
             scopes, context, transport) \
             SELECT 'filler' || i, randomblob(32), 'user' || i, 'filler', $1, $2, '[]', '{}', \
             'header' FROM seq",
        )
        .bind(now)
        .bind(now + 365 * 86_400_000)
        .bind(n as i64)
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query("ANALYZE").execute(&pool).await.unwrap();
    }
    (Arc::new(store), Pool::Lite(pool))
}

async fn case<S>(name: String, store: Arc<S>, pool: Pool) -> Case
where
    S: TokenStore + ClientStore,
{
    let key = DigestKey::generate("bench");
    let hasher = TokenHasher::new(key.clone());
    let durin = Durin::builder(store.clone(), store, key).build();
    let client = ClientName::new("bench").unwrap();
    durin
        .upsert_client(
            &Client::new(client.clone())
                .with_max_tokens_per_user(std::num::NonZeroU32::new(1000).unwrap()),
        )
        .await
        .unwrap();
    let me = UserId::new("bench-me").unwrap();
    let login = durin
        .login(&me, &client, LoginOptions::default())
        .await
        .unwrap();
    let digest = hasher.digest(&login.token).as_bytes().to_vec();
    Case {
        name,
        durin,
        pool,
        token: login.token,
        digest,
        client,
    }
}

fn cases(rt: &Runtime) -> Vec<Case> {
    rt.block_on(async {
        let mut cases = Vec::new();
        for n in SIZES {
            let (store, pool) = postgres(n).await;
            cases.push(case(format!("postgres/{n}"), store, pool).await);
            let (store, pool) = sqlite(n).await;
            cases.push(case(format!("sqlite/{n}"), store, pool).await);
        }
        cases
    })
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn benches(c: &mut Criterion) {
    let rt = runtime();
    let cases = cases(&rt);
    for case in &cases {
        let mut group = c.benchmark_group(&case.name);
        group.bench_function("raw-select", |b| {
            b.to_async(&rt).iter(|| case.pool.raw(&case.digest))
        });
        group.bench_function("authenticate", |b| {
            b.to_async(&rt).iter(|| async {
                black_box(
                    case.durin
                        .authenticate(&case.token, Transport::Header)
                        .await
                        .unwrap(),
                )
            })
        });
        let mut i = 0u64;
        group.bench_function("login", |b| {
            b.to_async(&rt).iter(|| {
                i += 1;
                let user = UserId::new(format!("bench-login-{i}")).unwrap();
                let (durin, client) = (&case.durin, &case.client);
                async move {
                    black_box(
                        durin
                            .login(&user, client, LoginOptions::default())
                            .await
                            .unwrap(),
                    )
                }
            })
        });
        group.finish();
    }
}

/// Operations per second of `op` with `in_flight` concurrent loops, over `budget`.
fn throughput<F, Fut>(rt: &Runtime, in_flight: usize, budget: Duration, op: F) -> f64
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    rt.block_on(async {
        let start = Instant::now();
        let tasks: Vec<_> = (0..in_flight)
            .map(|_| {
                let op = op.clone();
                tokio::spawn(async move {
                    let mut n = 0u64;
                    while start.elapsed() < budget {
                        op().await;
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        let mut total = 0;
        for task in tasks {
            total += task.await.unwrap();
        }
        total as f64 / start.elapsed().as_secs_f64()
    })
}

fn ratios() {
    let rt = runtime();
    let cases = cases(&rt);
    println!("\nauthenticate vs raw sqlx SELECT by digest, same pool, same run (ops/s):");
    println!(
        "  {:<18} {:>9} {:>10} {:>12} {:>8}",
        "case", "in flight", "raw", "authenticate", "ratio"
    );
    for case in &cases {
        for in_flight in [1, 16] {
            // Interleave three rounds of each to cancel drift.
            let (mut raw, mut auth) = (0.0, 0.0);
            for _ in 0..3 {
                let (pool, digest) = (case.pool.clone(), case.digest.clone());
                raw += throughput(&rt, in_flight, Duration::from_millis(700), move || {
                    let (pool, digest) = (pool.clone(), digest.clone());
                    async move { pool.raw(&digest).await }
                });
                let (durin, token) = (case.durin.clone(), case.token.clone());
                auth += throughput(&rt, in_flight, Duration::from_millis(700), move || {
                    let (durin, token) = (durin.clone(), token.clone());
                    async move {
                        black_box(durin.authenticate(&token, Transport::Header).await.unwrap());
                    }
                });
            }
            println!(
                "  {:<18} {:>9} {:>10.0} {:>12.0} {:>7.2}x",
                case.name,
                in_flight,
                raw / 3.0,
                auth / 3.0,
                raw / auth
            );
        }
    }
}

criterion_group! {
    name = group;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = benches
}

/// Uncached `authenticate` on the 10k-session schema with lookups on the primary alone
/// against lookups on the streaming replica of `DATABASE_REPLICA_URL` (skipped when it
/// is not set), interleaved in one run.
fn replica_ratios() {
    let Ok(replica) = std::env::var("DATABASE_REPLICA_URL") else {
        println!("\n(DATABASE_REPLICA_URL not set: no replica comparison)");
        return;
    };
    let rt = runtime();
    let n = SIZES[0];
    let schema = format!("durin_bench_{n}");
    let in_schema = |url: &str| {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}options=-c%20search_path%3D{schema}")
    };
    let (primary, via_replica, token, subscriber) = rt.block_on(async {
        let (store, _) = postgres(n).await;
        let key = DigestKey::generate("bench-replica");
        let primary = Durin::builder(store.clone(), store, key.clone()).build();
        let client = ClientName::new("bench").unwrap();
        primary
            .upsert_client(
                &Client::new(client.clone())
                    .with_max_tokens_per_user(std::num::NonZeroU32::new(1000).unwrap()),
            )
            .await
            .unwrap();
        let login = primary
            .login(
                &UserId::new("bench-replica").unwrap(),
                &client,
                LoginOptions::default(),
            )
            .await
            .unwrap();
        let routed = Arc::new(
            PostgresStore::connect_with_replicas(
                &in_schema(&database_url()),
                &durin_sqlx::PoolConfig::default(),
                &durin_sqlx::ReplicaOptions::new().with_read_url(in_schema(&replica)),
            )
            .await
            .expect("store with a replica"),
        );
        // Replica reads need a live subscription of the channel.
        let bus = durin_core::InvalidationBus::new(Arc::new(routed.channel()));
        let subscriber = bus.spawn_subscriber();
        let start = Instant::now();
        while !routed.reads_replicas() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the replica never became usable"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // The login's tombstones drop within a few polls.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let via_replica = Durin::builder(routed.clone(), routed, key).build();
        (primary, via_replica, login.token, subscriber)
    });
    println!("\nuncached authenticate, primary alone vs reads on the replica (ops/s):");
    println!(
        "  {:<18} {:>9} {:>10} {:>10} {:>8}",
        "case", "in flight", "primary", "replica", "ratio"
    );
    for in_flight in [1, 16] {
        let (mut on_primary, mut on_replica) = (0.0, 0.0);
        for _ in 0..3 {
            for (durin, total) in [(&primary, &mut on_primary), (&via_replica, &mut on_replica)] {
                let (durin, token) = (durin.clone(), token.clone());
                *total += throughput(&rt, in_flight, Duration::from_millis(700), move || {
                    let (durin, token) = (durin.clone(), token.clone());
                    async move {
                        black_box(durin.authenticate(&token, Transport::Header).await.unwrap());
                    }
                });
            }
        }
        println!(
            "  {:<18} {:>9} {:>10.0} {:>10.0} {:>7.2}x",
            format!("postgres/{n}"),
            in_flight,
            on_primary / 3.0,
            on_replica / 3.0,
            on_replica / on_primary
        );
    }
    rt.block_on(subscriber.shutdown());
}

fn main() {
    // `DURIN_BENCH_ONLY=replica`: the replica comparison alone.
    if std::env::var("DURIN_BENCH_ONLY").as_deref() == Ok("replica") {
        replica_ratios();
        return;
    }
    group();
    Criterion::default().configure_from_args().final_summary();
    ratios();
    replica_ratios();
}
