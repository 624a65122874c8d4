//! durin on Redis beside the raw Redis round trips it is made of, measured in one run.
//!
//! Run with `cargo bench -p durin-redis --bench redis` against `REDIS_URL` (default
//! `redis://127.0.0.1:6379`). Scenarios:
//!
//! - `raw-baseline/get`: a bare `GET` of the session's key on the same connection;
//! - `verify-valid`: `Durin::authenticate` over `RedisStore`, no cache (one `GET`);
//! - `verify-invalid`: a well-formed token that is not stored (one `GET`, a miss);
//! - `verify-cached`: the same through `CachedTokenStore` (no round trip);
//! - `raw-baseline/evalsha`: `EVALSHA` of a script that returns 1;
//! - `throttle`: one `RedisThrottle::check` (the GCRA script);
//! - `issue`: `Durin::login` (the insert script, evicting the previous session);
//! - `verify-valid-x64` / `raw-baseline/get-x64`: 64 requests in flight at once on the
//!   one multiplexed connection.
//!
//! After criterion's report, the bench prints each scenario's mean beside its raw
//! baseline, measured alternately in the same process.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use durin_core::{
    CachedTokenStore, Client, ClientName, DigestKey, Durin, LoginOptions, Rate, Throttle,
    TokenPrefix, TokenString, Transport, UserId,
};
use durin_redis::Connection;
use durin_redis::redis::Script;
use durin_redis::{RedisConfig, RedisStore, RedisThrottle};
use futures::future::join_all;
use tokio::runtime::Runtime;

const IN_FLIGHT: usize = 64;

struct Setup {
    rt: Option<Runtime>,
    durin: Durin,
    cached: Durin,
    token: TokenString,
    unknown: TokenString,
    session_key: String,
    conn: Connection,
    throttle: RedisThrottle,
    rate: Rate,
    trivial: Script,
    web: ClientName,
    user: UserId,
    prefix: String,
}

fn setup() -> Setup {
    // One thread drives both the requests and the connection, as in a single-threaded
    // server: no cross-thread wake-ups in the figures.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = durin_core::testing::unique("durin-bench");
    let key = DigestKey::generate("bench");
    let web = Client::new(ClientName::new("web").unwrap())
        .with_max_tokens_per_user(std::num::NonZeroU32::MIN)
        .with_token_ttl(Some(Duration::from_secs(3600)));
    let user = UserId::new("bench-user").unwrap();
    let mut setup = rt.block_on(async {
        let config = RedisConfig::new().with_prefix(prefix.clone());
        let store = Arc::new(
            RedisStore::connect_with(&url, config)
                .await
                .unwrap_or_else(|e| panic!("cannot reach Redis (set REDIS_URL): {e:?}")),
        );
        let durin = Durin::builder(store.clone(), store.clone(), key.clone()).build();
        let cached = Durin::builder(
            Arc::new(CachedTokenStore::new(store.clone())),
            store.clone(),
            key,
        )
        .build();
        durin.create_client(&web).await.unwrap();
        let login = durin
            .login(&user, &web.name, LoginOptions::default())
            .await
            .unwrap();
        let other = UserId::new("cached-user").unwrap();
        durin
            .login(&other, &web.name, LoginOptions::default())
            .await
            .unwrap();
        let throttle = RedisThrottle::from_store(&store);
        Setup {
            session_key: store
                .session_key(&login.session.digest)
                .expect("the digest of a token durin issued names its partition"),
            conn: store.connection().clone(),
            durin,
            cached,
            token: login.token,
            unknown: TokenString::generate(&TokenPrefix::default()),
            throttle,
            // Generous enough that every check is admitted (and writes).
            rate: "4000000000/s".parse().unwrap(),
            trivial: Script::new("return 1"),
            web: web.name.clone(),
            user,
            prefix,
            rt: None,
        }
    });
    setup.rt = Some(rt);
    setup
}

impl Setup {
    /// Deletes every key the bench wrote (its prefix is its own).
    fn cleanup(&self) {
        let rt = self.rt.as_ref().unwrap();
        rt.block_on(async {
            let mut conn = self.conn.clone();
            let mut cursor = 0u64;
            loop {
                let (next, keys): (u64, Vec<String>) = durin_redis::redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(format!("{}:*", self.prefix))
                    .arg("COUNT")
                    .arg(1000)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                if !keys.is_empty() {
                    let _: i64 = durin_redis::redis::cmd("UNLINK")
                        .arg(keys)
                        .query_async(&mut conn)
                        .await
                        .unwrap();
                }
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        });
    }

    async fn raw_get(&self) {
        let mut conn = self.conn.clone();
        let raw: Option<Vec<u8>> = durin_redis::redis::cmd("GET")
            .arg(&self.session_key)
            .query_async(&mut conn)
            .await
            .unwrap();
        black_box(raw.expect("the session is stored"));
    }

    async fn verify(&self) {
        black_box(
            self.durin
                .authenticate(&self.token, Transport::Header)
                .await
                .unwrap(),
        );
    }

    async fn verify_invalid(&self) {
        let err = self
            .durin
            .authenticate(&self.unknown, Transport::Header)
            .await
            .unwrap_err();
        black_box(err);
    }

    async fn verify_cached(&self) {
        black_box(
            self.cached
                .authenticate(&self.token, Transport::Header)
                .await
                .unwrap(),
        );
    }

    async fn raw_evalsha(&self) {
        let mut conn = self.conn.clone();
        let one: i64 = self.trivial.invoke_async(&mut conn).await.unwrap();
        black_box(one);
    }

    async fn throttle(&self) {
        let decision = self.throttle.check("bench", self.rate).await.unwrap();
        black_box(decision);
    }

    async fn issue(&self) {
        let user = UserId::new("issuer").unwrap();
        let login = self
            .durin
            .login(&user, &self.web, LoginOptions::default())
            .await
            .unwrap();
        black_box(login);
    }

    async fn verify_x64(&self) {
        join_all((0..IN_FLIGHT).map(|_| self.verify())).await;
    }

    async fn raw_get_x64(&self) {
        join_all((0..IN_FLIGHT).map(|_| self.raw_get())).await;
    }
}

fn benches(c: &mut Criterion) {
    let s = setup();
    let rt = s.rt.as_ref().unwrap();
    let mut group = c.benchmark_group("redis");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    group.bench_function("raw-baseline/get", |b| b.to_async(rt).iter(|| s.raw_get()));
    group.bench_function("verify-valid", |b| b.to_async(rt).iter(|| s.verify()));
    group.bench_function("verify-invalid", |b| {
        b.to_async(rt).iter(|| s.verify_invalid())
    });
    group.bench_function("verify-cached", |b| {
        b.to_async(rt).iter(|| s.verify_cached())
    });
    group.bench_function("raw-baseline/evalsha", |b| {
        b.to_async(rt).iter(|| s.raw_evalsha())
    });
    group.bench_function("throttle", |b| b.to_async(rt).iter(|| s.throttle()));
    group.bench_function("issue", |b| b.to_async(rt).iter(|| s.issue()));
    group.bench_function("raw-baseline/get-x64", |b| {
        b.to_async(rt).iter(|| s.raw_get_x64())
    });
    group.bench_function("verify-valid-x64", |b| {
        b.to_async(rt).iter(|| s.verify_x64())
    });
    group.finish();
    // The user's session is still the one the benches authenticate.
    rt.block_on(async {
        assert_eq!(s.durin.sessions(&s.user).await.unwrap().len(), 1);
    });
    s.cleanup();
}

/// Mean nanoseconds of `f`, awaited in a loop for `budget`.
async fn mean_ns<F, Fut>(budget: Duration, mut f: F) -> f64
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget {
        for _ in 0..50 {
            f().await;
        }
        n += 50;
    }
    start.elapsed().as_nanos() as f64 / n as f64
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Means of `scenario` and of `baseline`, measured alternately in 9 rounds of 300 ms.
struct Pair {
    scenario: Vec<f64>,
    baseline: Vec<f64>,
}

impl Pair {
    /// Ratio of the medians.
    fn median_ratio(&self) -> f64 {
        median(self.scenario.clone()) / median(self.baseline.clone())
    }

    /// Ratio of the fastest rounds: the least disturbed by other load on the machine.
    fn best_ratio(&self) -> f64 {
        let best = |xs: &[f64]| xs.iter().copied().fold(f64::INFINITY, f64::min);
        best(&self.scenario) / best(&self.baseline)
    }
}

fn paired<S, SF, B, BF>(rt: &Runtime, mut scenario: S, mut baseline: B) -> Pair
where
    S: FnMut() -> SF,
    SF: Future<Output = ()>,
    B: FnMut() -> BF,
    BF: Future<Output = ()>,
{
    rt.block_on(async {
        let budget = Duration::from_millis(300);
        mean_ns(budget, &mut scenario).await;
        mean_ns(budget, &mut baseline).await;
        let mut pair = Pair {
            scenario: Vec::new(),
            baseline: Vec::new(),
        };
        for _ in 0..9 {
            pair.baseline.push(mean_ns(budget, &mut baseline).await);
            pair.scenario.push(mean_ns(budget, &mut scenario).await);
        }
        pair
    })
}

fn ratios() {
    let s = setup();
    let rt = s.rt.as_ref().unwrap();
    let rows = [
        (
            "verify-valid",
            "GET",
            paired(rt, || s.verify(), || s.raw_get()),
        ),
        (
            "verify-invalid",
            "GET",
            paired(rt, || s.verify_invalid(), || s.raw_get()),
        ),
        (
            "verify-cached",
            "GET",
            paired(rt, || s.verify_cached(), || s.raw_get()),
        ),
        (
            "throttle",
            "EVALSHA return 1",
            paired(rt, || s.throttle(), || s.raw_evalsha()),
        ),
        (
            "issue",
            "EVALSHA return 1",
            paired(rt, || s.issue(), || s.raw_evalsha()),
        ),
        (
            "verify-valid-x64",
            "GET x64",
            paired(rt, || s.verify_x64(), || s.raw_get_x64()),
        ),
        (
            "verify-valid-x64",
            "verify-valid x64 sequential",
            paired(
                rt,
                || s.verify_x64(),
                || async {
                    for _ in 0..IN_FLIGHT {
                        s.verify().await;
                    }
                },
            ),
        ),
    ];
    println!("\nscenario beside its raw baseline on the same connection, alternating, same run:");
    println!(
        "  {:<18} {:>10}   {:<28} {:>10}   {:>12}   {:>10}",
        "scenario", "median", "baseline", "median", "median ratio", "best ratio"
    );
    for (name, base, pair) in rows {
        println!(
            "  {name:<18} {:>7.1} µs   {base:<28} {:>7.1} µs   {:>11.2}x   {:>9.2}x",
            median(pair.scenario.clone()) / 1000.0,
            median(pair.baseline.clone()) / 1000.0,
            pair.median_ratio(),
            pair.best_ratio(),
        );
    }
    s.cleanup();
}

criterion_group!(redis_benches, benches);

fn main() {
    redis_benches();
    Criterion::default().configure_from_args().final_summary();
    ratios();
}
