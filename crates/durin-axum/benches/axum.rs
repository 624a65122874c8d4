//! Requests per second of `GET /api/me` (authenticated: the layer and the `Auth`
//! extractor) against `GET /api/open` (an unauthenticated route in the same router,
//! behind the same layer, answering the same JSON) on one in-process axum server, under
//! the same concurrent load from a Rust load generator, in one run: with the in-memory
//! store behind the cache, and with an SQLite file behind the cache (as the example server
//! runs).
//!
//! Run with `cargo bench -p durin-axum --bench axum`. It prints the two rates and the
//! share of throughput authentication costs: `1 - me/open`.

use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::{Json, Router};
use durin_axum::{Auth, DurinLayer, HttpConfig};
use durin_core::{CachedTokenStore, ClientStore, DigestKey, Durin, MemoryStore, TokenStore};
use durin_http::testing::{NoUsers, TestStack};

/// A bench case: its name, token store and client store.
type Setup = (&'static str, Arc<dyn TokenStore>, Arc<dyn ClientStore>);

async fn me(Auth(auth): Auth) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "user": auth.user_id().as_str(),
        "client": auth.client.name.as_str(),
        "session": auth.session.id.as_str(),
    }))
}

async fn open() -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "user": "bench",
        "client": "web",
        "session": "0123456789abcdefghijkl",
    }))
}

/// Serves the app on a free port; returns its base URL and a token.
async fn serve(tokens: Arc<dyn TokenStore>, clients: Arc<dyn ClientStore>) -> (String, String) {
    let durin = Durin::builder(tokens, clients, DigestKey::generate("bench")).build();
    let stack = TestStack::with_durin(durin, HttpConfig::default(), Arc::new(NoUsers));
    let authorization = stack.login_as("bench", "web").await;
    let api = stack.api();
    let app = Router::new().nest(
        "/api",
        Router::new()
            .route("/me", get(me))
            .route("/open", get(open))
            .layer(DurinLayer::new(api)),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, authorization)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let memory = Arc::new(MemoryStore::new());
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/durin-bench");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("axum-{}.db", std::process::id()));
        let sqlite = Arc::new(
            durin_sqlx::SqliteStore::connect(&format!("sqlite://{}", path.display()))
                .await
                .unwrap(),
        );
        sqlite.migrate().await.unwrap();
        let setups: [Setup; 2] = [
            (
                "memory + cache",
                Arc::new(CachedTokenStore::new(memory.clone())),
                memory,
            ),
            (
                "sqlite + cache",
                Arc::new(CachedTokenStore::new(sqlite.clone())),
                sqlite,
            ),
        ];
        println!("axum: GET /api/me (authenticated) vs GET /api/open (not), same server, same run");
        println!(
            "  {:<16} {:>9} {:>12} {:>12} {:>10}",
            "store", "in flight", "open r/s", "me r/s", "auth cost"
        );
        for (name, tokens, clients) in setups {
            let (base, authorization) = serve(tokens, clients).await;
            for in_flight in [1, 32] {
                let (open, me) = durin_contract::load::compare(
                    &format!("{base}/api/open"),
                    &format!("{base}/api/me"),
                    &authorization,
                    in_flight,
                    9,
                    Duration::from_secs(1),
                )
                .await;
                println!(
                    "  {name:<16} {in_flight:>9} {open:>12.0} {me:>12.0} {:>9.1}%",
                    (1.0 - me / open) * 100.0
                );
            }
        }
        let _ = std::fs::remove_file(&path);
    });
}
