//! How long a revocation takes to reach another node, per backend.
//!
//! Run with `cargo bench -p durin-sqlx --bench propagation` (PostgreSQL at
//! `DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/durin_test`; the SQLite file
//! under the target directory). `DURIN_PROPAGATION_ROUNDS` sets the rounds (default 300).
//!
//! Two nodes as two servers would run them: two pools on one PostgreSQL schema (or one
//! SQLite file), each with its own `InvalidationBus`, `CachedTokenStore` and `Durin`. One
//! round: log in on A, authenticate on B (B caches the session), log out on A, then time
//! from the moment `logout` returned on A until B first refuses the token, polling B
//! every millisecond. End-to-end latency is not what criterion measures well (one sample
//! per round, a long tail that matters), so this is a plain binary printing a table.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::nodes::Node;
use durin_core::{
    Client, ClientStore, DigestKey, InvalidationChannel, LoginOptions, TokenStore, Transport,
    UserId,
};

/// A refusal that takes longer than this fails the bench: something is broken.
const GIVE_UP: Duration = Duration::from_secs(10);

struct Figures {
    backend: &'static str,
    samples: Vec<Duration>,
}

impl Figures {
    fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.samples.clone();
        sorted.sort();
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1]
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

async fn measure<S: TokenStore + ClientStore>(
    backend: &'static str,
    a: Arc<S>,
    b: Arc<S>,
    channel: impl Fn(&Arc<S>) -> Arc<dyn InvalidationChannel>,
    rounds: usize,
) -> Figures {
    let key = DigestKey::generate("propagation");
    let (ca, cb) = (channel(&a), channel(&b));
    let a = Node::server(a, ca, &key);
    let b = Node::server(b, cb, &key);
    a.live().await;
    b.live().await;
    let web = Client::new(durin_core::testing::client());
    a.durin.create_client(&web).await.expect("create client");
    let mut samples = Vec::with_capacity(rounds);
    // A few rounds first, so connections are open and statements prepared.
    for round in 0..rounds + 10 {
        let user = UserId::new(format!("user-{round}")).expect("user id");
        let login = a
            .durin
            .login(&user, &web.name, LoginOptions::default())
            .await
            .expect("login on A");
        b.durin
            .authenticate(&login.token, Transport::Header)
            .await
            .expect("B authenticates (and caches)");
        let auth = a
            .durin
            .authenticate(&login.token, Transport::Header)
            .await
            .expect("A authenticates");
        a.durin.logout(&auth).await.expect("logout on A");
        let returned = Instant::now();
        loop {
            if b.durin
                .authenticate(&login.token, Transport::Header)
                .await
                .is_err()
            {
                break;
            }
            assert!(
                returned.elapsed() < GIVE_UP,
                "{backend}: B still accepts after {GIVE_UP:?}"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        if round >= 10 {
            samples.push(returned.elapsed());
        }
    }
    a.shutdown().await;
    b.shutdown().await;
    Figures { backend, samples }
}

#[tokio::main]
async fn main() {
    let rounds = std::env::var("DURIN_PROPAGATION_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(300);
    let mut table = Vec::new();

    let (a, b) = common::postgres_pair().await;
    let schema: (String,) = sqlx::query_as("SELECT current_schema()::text")
        .fetch_one(a.pool())
        .await
        .expect("schema");
    table.push(
        measure(
            "PostgreSQL (LISTEN/NOTIFY)",
            a.clone(),
            b,
            |s| Arc::new(s.channel()),
            rounds,
        )
        .await,
    );
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA {} CASCADE",
        schema.0
    )))
    .execute(a.pool())
    .await
    .expect("drop the bench schema");

    let (a, b) = common::sqlite_pair().await;
    table.push(
        measure(
            "SQLite file (log polled every 100 ms)",
            a,
            b,
            |s| Arc::new(s.channel()),
            rounds,
        )
        .await,
    );

    println!();
    println!("revocation on A returned -> first refusal on B, {rounds} rounds per backend");
    println!();
    println!("| backend | p50 | p99 | max |");
    println!("|---|---|---|---|");
    for f in &table {
        let max = f.samples.iter().max().copied().unwrap_or_default();
        println!(
            "| {} | {} | {} | {} |",
            f.backend,
            ms(f.percentile(50.0)),
            ms(f.percentile(99.0)),
            ms(max)
        );
    }
}
