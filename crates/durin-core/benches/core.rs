//! Lookup costs of durin-core, each beside the bare HMAC digest measured in the same run.
//!
//! Run with `cargo bench -p durin-core --bench core`. Scenarios: `parse`, `digest`
//! (the raw baseline), `verify-valid` (authenticate on MemoryStore), `verify-cached`
//! (authenticate on CachedTokenStore over MemoryStore), `verify-invalid` (a malformed
//! token, rejected before any I/O). After criterion's report, the bench prints each
//! scenario's median time and its median ratio to the digest over interleaved rounds
//! (so that other load on the machine moves both sides of a ratio alike).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use durin_core::{
    CachedTokenStore, Client, ClientName, DigestKey, Durin, LoginOptions, MemoryStore, TokenHasher,
    TokenPrefix, TokenString, Transport, UserId,
};
use tokio::runtime::Runtime;

struct Setup {
    rt: Runtime,
    plain: Durin,
    cached: Durin,
    token_plain: TokenString,
    token_cached: TokenString,
    hasher: TokenHasher,
}

fn setup() -> Setup {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let key = DigestKey::generate("bench");
    let web = Client::new(ClientName::new("web").unwrap())
        .with_max_tokens_per_user(std::num::NonZeroU32::new(2).unwrap());
    let (plain, cached, token_plain, token_cached) = rt.block_on(async {
        let store = Arc::new(MemoryStore::new());
        let plain = Durin::builder(store.clone(), store.clone(), key.clone()).build();
        let cached_store = Arc::new(CachedTokenStore::new(store.clone()));
        let cached = Durin::builder(cached_store, store.clone(), key.clone()).build();
        plain.create_client(&web).await.unwrap();
        // Realistic population: 10,000 other sessions.
        for i in 0..10_000 {
            let user = UserId::new(format!("u{i}")).unwrap();
            plain
                .login(&user, &web.name, LoginOptions::default())
                .await
                .unwrap();
        }
        let me = UserId::new("me").unwrap();
        let a = plain
            .login(&me, &web.name, LoginOptions::default())
            .await
            .unwrap();
        let b = plain
            .login(&me, &web.name, LoginOptions::default())
            .await
            .unwrap();
        (plain, cached, a.token, b.token)
    });
    Setup {
        rt,
        plain,
        cached,
        token_plain,
        token_cached,
        hasher: TokenHasher::new(key),
    }
}

fn benches(c: &mut Criterion) {
    let s = setup();
    let text = s.token_plain.expose_secret().to_owned();
    let malformed = format!("{}x", &text[..text.len() - 1]);
    c.bench_function("parse", |b| {
        b.iter(|| TokenString::parse(black_box(&text)).unwrap())
    });
    c.bench_function("digest", |b| {
        b.iter(|| s.hasher.digest(black_box(&s.token_plain)))
    });
    c.bench_function("generate", |b| {
        b.iter(|| TokenString::generate(&TokenPrefix::default()))
    });
    c.bench_function("verify-valid", |b| {
        b.iter(|| {
            s.rt.block_on(
                s.plain
                    .authenticate(black_box(&s.token_plain), Transport::Header),
            )
            .unwrap()
        })
    });
    c.bench_function("verify-cached", |b| {
        b.iter(|| {
            s.rt.block_on(
                s.cached
                    .authenticate(black_box(&s.token_cached), Transport::Header),
            )
            .unwrap()
        })
    });
    c.bench_function("verify-invalid", |b| {
        b.iter(|| {
            s.rt.block_on(
                s.plain
                    .authenticate_str(black_box(&malformed), Transport::Header),
            )
            .unwrap_err()
        })
    });
}

/// Nanoseconds per call of the future made by `f`, awaited in a loop inside one
/// `block_on`, over `budget`.
fn ns_async<F, Fut>(rt: &Runtime, budget: Duration, mut f: F) -> f64
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    rt.block_on(async {
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < budget {
            for _ in 0..100 {
                f().await;
            }
            n += 100;
        }
        start.elapsed().as_nanos() as f64 / n as f64
    })
}

/// Nanoseconds per call of `f` over `budget`.
fn ns(budget: Duration, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget {
        for _ in 0..100 {
            f();
        }
        n += 100;
    }
    start.elapsed().as_nanos() as f64 / n as f64
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Each scenario against the digest, interleaved: 15 rounds, each measuring the digest
/// and then every scenario for 40 ms, so that a change of load on the machine moves
/// both sides of a ratio alike. Prints the median time and the median per-round ratio.
fn ratios() {
    let s = setup();
    let text = s.token_plain.expose_secret().to_owned();
    let digest_plain = s.hasher.digest(&s.token_plain);
    let slice = Duration::from_millis(40);
    let names = [
        "parse",
        "store.get (MemoryStore, dyn)",
        "verify-valid (MemoryStore)",
        "verify-cached (CachedTokenStore)",
    ];
    let mut digests = Vec::new();
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    for round in 0..16 {
        let digest = ns(slice, || {
            black_box(s.hasher.digest(black_box(&s.token_plain)));
        });
        let row = [
            ns(slice, || {
                black_box(TokenString::parse(black_box(&text)).unwrap());
            }),
            ns_async(&s.rt, slice, || async {
                black_box(s.plain.tokens().get(&digest_plain).await.unwrap());
            }),
            ns_async(&s.rt, slice, || async {
                black_box(
                    s.plain
                        .authenticate(&s.token_plain, Transport::Header)
                        .await
                        .unwrap(),
                );
            }),
            ns_async(&s.rt, slice, || async {
                black_box(
                    s.cached
                        .authenticate(&s.token_cached, Transport::Header)
                        .await
                        .unwrap(),
                );
            }),
        ];
        if round == 0 {
            continue; // warm-up
        }
        digests.push(digest);
        for (i, ns) in row.into_iter().enumerate() {
            times[i].push(ns);
            ratios[i].push(ns / digest);
        }
    }
    println!(
        "\nratios against the bare HMAC-SHA-256 digest ({:.0} ns), same run, median of {} interleaved rounds:",
        median(digests.clone()),
        digests.len()
    );
    for (i, name) in names.iter().enumerate() {
        println!(
            "  {name:<34} {:>8.0} ns  = {:.2}x digest",
            median(times[i].clone()),
            median(ratios[i].clone())
        );
    }
}

criterion_group!(core, benches);

fn main() {
    core();
    Criterion::default().configure_from_args().final_summary();
    ratios();
}
