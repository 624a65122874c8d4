//! Requests per second of `GET /api/me` on the release `axum-server` over PostgreSQL with
//! the token cache off (`--cache-ttl 0`: every request is one indexed lookup in
//! PostgreSQL, plus the last-use write when it is due), against the same route
//! unauthenticated (a `Basic` header of the same length: durin leaves it alone, the
//! extractor answers 401 without asking the store), interleaved, in one run.
//!
//! Run with `DATABASE_URL=postgres://postgres@127.0.0.1:5432/DB cargo bench -p
//! durin-contract --bench http_uncached` (PostgreSQL must be reachable; the bench builds
//! the release server when it is missing).

use std::time::Duration;

use durin_contract::{ALICE, Server, load, standard_flags};

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut flags = standard_flags();
        flags.push("--cache-ttl=0".to_owned());
        let server = Server::start_with("axum-server", "postgres", &flags, None).await;
        let authorization = format!("Bearer {}", server.login(ALICE, "web").await);
        let url = server.url("/api/me");
        println!("GET /api/me on axum-server (release), PostgreSQL, --cache-ttl 0; 5 rounds of 2 s");
        println!("| in flight | unauthenticated r/s | uncached r/s | ratio (uncached / unauthenticated) |");
        println!("|---|---|---|---|");
        for in_flight in [1, 32] {
            let (open, me) = load::compare_unauthenticated(
                &url,
                &authorization,
                in_flight,
                5,
                Duration::from_secs(2),
            )
            .await;
            println!(
                "| {in_flight} | {open:.0} | {me:.0} | {:.2} |",
                me / open
            );
        }
        server.stop().await;
    });
}
