//! How fast a revocation on one node is refused on another, on Redis.
//!
//! Two nodes share one Redis and key prefix, each with its own connection,
//! `InvalidationBus` (over `RedisStore::channel`, the stream `{prefix}:inv`), cached token
//! store and `Durin`, as two application processes would. Each round logs in on A,
//! authenticates on B twice (B's cache now holds the session), logs out on A, and times
//! from the moment `logout` returned on A until B first refuses the token, polling B
//! every millisecond. It prints p50, p90, p99 and the maximum.
//!
//! Run with `cargo bench -p durin-redis --bench propagation` against `REDIS_URL`
//! (default `redis://127.0.0.1:6379`); `DURIN_BENCH_ROUNDS` sets the rounds (default
//! 300). The polling interval is the resolution: a figure of 1 ms means "refused at the
//! first or second poll".

use std::sync::Arc;
use std::time::{Duration, Instant};

use durin_core::{
    AuthError, CachedTokenStore, ChannelState, Client, DigestKey, Durin, InvalidationBus,
    LoginOptions, SubscriberHandle, Transport, UserId,
};
use durin_redis::{RedisConfig, RedisStore};

/// How long one round may wait for the refusal before the bench gives up.
const GIVE_UP: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(1);

struct Node {
    durin: Durin,
    _subscriber: SubscriberHandle,
}

async fn node(url: &str, config: RedisConfig, key: &DigestKey) -> Node {
    let store = Arc::new(
        RedisStore::connect_with(url, config)
            .await
            .unwrap_or_else(|e| panic!("cannot reach Redis (set REDIS_URL): {e:?}")),
    );
    let bus = InvalidationBus::new(Arc::new(store.channel()));
    let cached = Arc::new(CachedTokenStore::new(store.clone()).with_bus(&bus));
    let durin = Durin::builder(cached, store, key.clone()).bus(&bus).build();
    let subscriber = bus.spawn_subscriber();
    let mut state = bus.watch_state();
    tokio::time::timeout(
        Duration::from_secs(10),
        state.wait_for(|s| *s == ChannelState::Live),
    )
    .await
    .expect("the subscriber goes live within 10 s")
    .unwrap();
    Node {
        durin,
        _subscriber: subscriber,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

async fn run(url: &str, prefix: &str, rounds: usize) -> Vec<Duration> {
    let config = RedisConfig::new().with_prefix(prefix);
    let key = DigestKey::generate("bench");
    let a = node(url, config.clone(), &key).await;
    let b = node(url, config, &key).await;
    let web = Client::new(durin_core::ClientName::new("web").unwrap());
    a.durin.create_client(&web).await.unwrap();
    let user = UserId::new("bench-user").unwrap();
    let mut latencies = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let login = a
            .durin
            .login(&user, &web.name, LoginOptions::default())
            .await
            .unwrap();
        for _ in 0..2 {
            b.durin
                .authenticate(&login.token, Transport::Header)
                .await
                .unwrap();
        }
        let auth = a
            .durin
            .authenticate(&login.token, Transport::Header)
            .await
            .unwrap();
        a.durin.logout(&auth).await.unwrap();
        let returned = Instant::now();
        loop {
            match b.durin.authenticate(&login.token, Transport::Header).await {
                Err(AuthError::InvalidToken(_)) => break,
                Err(other) => panic!("round {round}: node B failed: {other:?}"),
                Ok(_) => {}
            }
            assert!(
                returned.elapsed() < GIVE_UP,
                "round {round}: node B still accepts the token after {GIVE_UP:?}"
            );
            tokio::time::sleep(POLL).await;
        }
        latencies.push(returned.elapsed());
    }
    latencies
}

/// Deletes every key under the bench's own prefix.
async fn clean(url: &str, prefix: &str) {
    let client = durin_redis::redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut cursor = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) = durin_redis::redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}:*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await
            .unwrap();
        if !keys.is_empty() {
            let _: i64 = durin_redis::redis::cmd("UNLINK")
                .arg(&keys)
                .query_async(&mut conn)
                .await
                .unwrap();
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
}

fn main() {
    // `cargo bench` passes `--bench`; this binary takes no arguments of its own.
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let rounds: usize = std::env::var("DURIN_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(300)
        .max(1);
    let prefix = durin_core::testing::unique("durin-bench-propagation");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut latencies = rt.block_on(run(&url, &prefix, rounds));
    rt.block_on(clean(&url, &prefix));
    latencies.sort();
    let mean = latencies.iter().sum::<Duration>() / latencies.len() as u32;
    println!();
    println!("propagation on Redis: logout returned on node A -> first refusal on node B");
    println!("({rounds} rounds, B polled every {POLL:?})");
    println!();
    println!("| p50 | p90 | p99 | max | mean |");
    println!("|---|---|---|---|---|");
    println!(
        "| {} | {} | {} | {} | {} |",
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 90.0)),
        ms(percentile(&latencies, 99.0)),
        ms(*latencies.last().expect("at least one round")),
        ms(mean),
    );
}
