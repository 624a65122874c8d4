//! What the hot path costs on both release example servers over PostgreSQL, default
//! flags, in one run:
//!
//! - authentication with the token cache: `GET /api/me` (a token) against
//!   `GET /api/me-anonymous` (the same JSON shape, no caller) on the same server,
//!   interleaved ([`load::compare`]);
//! - the request log: `GET /health` on a server at the default `info` (a line per request,
//!   stderr to a file) against a second server of the same binary at `RUST_LOG=warn`
//!   (no request line), interleaved round by round.
//!
//! Run with `DATABASE_URL=postgres://postgres@127.0.0.1:5432/DB cargo bench -p
//! durin-contract --bench http_cached` (PostgreSQL must be reachable; the bench builds
//! the release servers when they are missing). `DURIN_CONTRACT_SERVERS` picks the
//! servers as for the contract suite.

use std::time::Duration;

use durin_contract::{ALICE, Server, load, standard_flags};

const ROUNDS: usize = 5;
const BUDGET: Duration = Duration::from_secs(2);

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let servers = std::env::var("DURIN_CONTRACT_SERVERS")
        .unwrap_or_else(|_| "axum-server,actix-server".to_owned());
    runtime.block_on(async {
        println!("PostgreSQL, release servers, default flags; {ROUNDS} interleaved rounds of {BUDGET:?}, medians");
        println!();
        println!("| server | in flight | /api/me-anonymous r/s | /api/me (cached) r/s | ratio |");
        println!("|---|---|---|---|---|");
        for package in servers.split(',').map(str::trim) {
            let server = Server::start(package, "postgres").await;
            let authorization = format!("Bearer {}", server.login(ALICE, "web").await);
            for in_flight in [1, 32] {
                let (open, me) = load::compare(
                    &server.url("/api/me-anonymous"),
                    &server.url("/api/me"),
                    &authorization,
                    in_flight,
                    ROUNDS,
                    BUDGET,
                )
                .await;
                println!(
                    "| {package} | {in_flight} | {open:.0} | {me:.0} | {:.2} |",
                    me / open
                );
            }
            server.stop().await;
        }
        println!();
        println!("| server | in flight | /health, RUST_LOG=warn r/s | /health, default (info, stderr to a file) r/s | ratio |");
        println!("|---|---|---|---|---|");
        let dir = std::env::temp_dir().join(format!("durin-bench-logs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("log dir");
        for package in servers.split(',').map(str::trim) {
            let flags = standard_flags();
            let quiet = Server::start_log_file(
                package,
                "postgres",
                &flags,
                Some("warn"),
                &dir.join(format!("{package}-warn.log")),
            )
            .await;
            let info_log = dir.join(format!("{package}-info.log"));
            let logging =
                Server::start_log_file(package, "postgres", &flags, None, &info_log).await;
            for in_flight in [1, 32] {
                let (quiet_url, logging_url) = (quiet.url("/health"), logging.url("/health"));
                let warm_up = Duration::from_millis(300);
                load::throughput(&quiet_url, None, in_flight, warm_up).await;
                load::throughput(&logging_url, None, in_flight, warm_up).await;
                let (mut q, mut l) = (Vec::new(), Vec::new());
                for _ in 0..ROUNDS {
                    q.push(load::throughput(&quiet_url, None, in_flight, BUDGET).await);
                    l.push(load::throughput(&logging_url, None, in_flight, BUDGET).await);
                }
                let (q, l) = (load::median(q), load::median(l));
                println!(
                    "| {package} | {in_flight} | {q:.0} | {l:.0} | {:.2} |",
                    l / q
                );
            }
            quiet.stop().await;
            logging.stop().await;
            let lines = std::fs::read_to_string(&info_log)
                .map(|text| text.lines().count())
                .unwrap_or(0);
            println!("| {package} | | | ({lines} lines logged) | |");
        }
        let _ = std::fs::remove_dir_all(&dir);
    });
}
