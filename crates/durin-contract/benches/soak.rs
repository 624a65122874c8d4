//! Memory of the release `axum-server` on SQLite under sustained mixed load: 16 clients
//! looping over logins, `/api/me`, `sessions/`, logout and logout-all for `SOAK_SECS`
//! (default 120), then 150 concurrent logins, then idle. Prints the resident set size
//! (`VmRSS` of `/proc/PID/status`) at start, its peak under load, and after 10 s idle.
//!
//! The goal (issue "many nodes"): RSS stays under 300 MB under load and returns near
//! idle afterwards. Password hashing is what costs memory (argon2 with 19 MiB per
//! hash): the servers bound concurrent hashes to one per core and reuse the buffers.
//!
//! Run with `cargo bench -p durin-contract --bench soak` (builds the release server when
//! it is missing); `SOAK_SECS=30` for a quick look.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use durin_contract::{ALICE, BOB, Server, client, standard_flags};
use serde_json::json;

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

async fn worker(
    server: Arc<Server>,
    i: usize,
    stop: Arc<AtomicBool>,
    ops: Arc<AtomicU64>,
    errors: Arc<AtomicU64>,
) {
    let user = if i.is_multiple_of(2) { ALICE } else { BOB };
    let clients = ["web", "cli", "mobile", "forever", "plain"];
    let mut round = 0usize;
    while !stop.load(Ordering::Relaxed) {
        round += 1;
        let client = clients[(i + round) % clients.len()];
        let login = server.login_response(user, client).await;
        ops.fetch_add(1, Ordering::Relaxed);
        let Some(token) = login.body["token"].as_str().map(str::to_owned) else {
            errors.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        for _ in 0..5 {
            let r = server.get("/api/me", &token).await;
            ops.fetch_add(1, Ordering::Relaxed);
            // A concurrent logout-all of the same user may end this token: 401 is fine.
            if r.status != 200 && r.status != 401 {
                errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        let r = server.get("/api/sessions/", &token).await;
        ops.fetch_add(1, Ordering::Relaxed);
        if r.status != 200 && r.status != 401 {
            errors.fetch_add(1, Ordering::Relaxed);
        }
        let path = if round.is_multiple_of(7) {
            "/api/logoutall/"
        } else {
            "/api/logout/"
        };
        let r = server.post(path, &token).await;
        ops.fetch_add(1, Ordering::Relaxed);
        if r.status != 204 && r.status != 401 {
            errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn main() {
    let secs: u64 = std::env::var("SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(120);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let server = Arc::new(Server::start_with("axum-server", "sqlite", &standard_flags(), None).await);
        let pid = server.pid().expect("pid");
        tokio::time::sleep(Duration::from_secs(1)).await;
        let idle = rss_kib(pid);
        let peak = Arc::new(AtomicU64::new(idle));
        let sampling = Arc::new(AtomicBool::new(true));
        let sampler = {
            let (peak, sampling) = (peak.clone(), sampling.clone());
            tokio::spawn(async move {
                while sampling.load(Ordering::Relaxed) {
                    peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
        };
        let (stop, ops, errors) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicU64::new(0)),
        );
        let started = Instant::now();
        let workers: Vec<_> = (0..16)
            .map(|i| tokio::spawn(worker(server.clone(), i, stop.clone(), ops.clone(), errors.clone())))
            .collect();
        tokio::time::sleep(Duration::from_secs(secs)).await;
        stop.store(true, Ordering::Relaxed);
        for w in workers {
            w.await.expect("worker");
        }
        let elapsed = started.elapsed().as_secs_f64();
        let soak_peak = peak.load(Ordering::Relaxed);
        // 150 concurrent logins: hashing waits for its turn instead of piling up buffers.
        // Spread over 15 source addresses and two users, so the failed-login guard (which
        // counts attempts in flight: 10 per address and username) admits every one.
        let burst: Vec<_> = (0..150u8)
            .map(|i| {
                let server = server.clone();
                let user = if i.is_multiple_of(2) { ALICE } else { BOB };
                let http = client(Some(std::net::IpAddr::from([127, 0, 9, i / 10 + 1])));
                tokio::spawn(async move {
                    server
                        .send(http.post(server.url("/api/login/")).json(
                            &json!({"username": user.0, "password": user.1, "client": "web"}),
                        ))
                        .await
                        .status
                })
            })
            .collect();
        let mut statuses = std::collections::BTreeMap::new();
        for b in burst {
            *statuses.entry(b.await.expect("login")).or_insert(0) += 1;
        }
        let burst_ok = format!("{statuses:?}");
        let burst_peak = peak.load(Ordering::Relaxed);
        tokio::time::sleep(Duration::from_secs(10)).await;
        sampling.store(false, Ordering::Relaxed);
        sampler.await.expect("sampler");
        let after = rss_kib(pid);
        println!("axum-server (release), SQLite, 16 clients for {secs} s, then 150 concurrent logins");
        println!(
            "| operations | errors | ops/s | RSS idle | RSS peak (soak) | RSS peak (150 logins, statuses {burst_ok}) | RSS 10 s after |"
        );
        println!("|---|---|---|---|---|---|---|");
        println!(
            "| {} | {} | {:.0} | {:.1} MiB | {:.1} MiB | {:.1} MiB | {:.1} MiB |",
            ops.load(Ordering::Relaxed),
            errors.load(Ordering::Relaxed),
            ops.load(Ordering::Relaxed) as f64 / elapsed,
            mib(idle),
            mib(soak_peak),
            mib(burst_peak),
            mib(after)
        );
        Arc::into_inner(server).expect("workers done").stop().await;
    });
}
