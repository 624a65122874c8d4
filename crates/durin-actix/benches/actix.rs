//! Requests per second of `GET /api/me` (authenticated: the middleware and the `Auth`
//! extractor) against `GET /api/open` (an unauthenticated route in the same scope, behind
//! the same middleware, answering the same JSON) on one in-process actix-web server,
//! under the same concurrent load from a Rust load generator, in one run: with the
//! in-memory store behind the cache, and with an SQLite file behind the cache.
//!
//! Run with `cargo bench -p durin-actix --bench actix`. It prints the two rates and the
//! share of throughput authentication costs: `1 - me/open`.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use durin_actix::{Auth, DurinMiddleware, HttpConfig};
use durin_core::{CachedTokenStore, ClientStore, DigestKey, Durin, MemoryStore, TokenStore};
use durin_http::testing::{NoUsers, TestStack};

async fn me(Auth(auth): Auth) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({
        "user": auth.user_id().as_str(),
        "client": auth.client.name.as_str(),
        "session": auth.session.id.as_str(),
    }))
}

async fn open() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({
        "user": "bench",
        "client": "web",
        "session": "0123456789abcdefghijkl",
    }))
}

/// Starts a server in its own actix system thread; returns its base URL and a token.
fn serve(store: &'static str) -> (String, String) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let (tokens, clients): (Arc<dyn TokenStore>, Arc<dyn ClientStore>) = match store {
                "memory" => {
                    let memory = Arc::new(MemoryStore::new());
                    (Arc::new(CachedTokenStore::new(memory.clone())), memory)
                }
                _ => {
                    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                        .join("../../target/durin-bench");
                    std::fs::create_dir_all(&dir).unwrap();
                    let path = dir.join(format!("actix-{}.db", std::process::id()));
                    let _ = std::fs::remove_file(&path);
                    let sqlite = Arc::new(
                        durin_sqlx::SqliteStore::connect(&format!("sqlite://{}", path.display()))
                            .await
                            .unwrap(),
                    );
                    sqlite.migrate().await.unwrap();
                    (Arc::new(CachedTokenStore::new(sqlite.clone())), sqlite)
                }
            };
            let durin = Durin::builder(tokens, clients, DigestKey::generate("bench")).build();
            let stack = TestStack::with_durin(durin, HttpConfig::default(), Arc::new(NoUsers));
            let authorization = stack.login_as("bench", "web").await;
            let api = stack.api();
            let server = HttpServer::new(move || {
                App::new().service(
                    web::scope("/api")
                        .wrap(DurinMiddleware::new(api.clone()))
                        .route("/me", web::get().to(me))
                        .route("/open", web::get().to(open)),
                )
            })
            .workers(2)
            .bind("127.0.0.1:0")
            .unwrap();
            let base = format!("http://{}", server.addrs()[0]);
            tx.send((base, authorization)).unwrap();
            server.run().await.unwrap();
        });
    });
    rx.recv().unwrap()
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!(
        "actix-web: GET /api/me (authenticated) vs GET /api/open (not), same server, same run"
    );
    println!(
        "  {:<16} {:>9} {:>12} {:>12} {:>10}",
        "store", "in flight", "open r/s", "me r/s", "auth cost"
    );
    for (name, store) in [("memory + cache", "memory"), ("sqlite + cache", "sqlite")] {
        let (base, authorization) = serve(store);
        for in_flight in [1, 32] {
            let (open, me) = rt.block_on(durin_contract::load::compare(
                &format!("{base}/api/open"),
                &format!("{base}/api/me"),
                &authorization,
                in_flight,
                9,
                Duration::from_secs(1),
            ));
            println!(
                "  {name:<16} {in_flight:>9} {open:>12.0} {me:>12.0} {:>9.1}%",
                (1.0 - me / open) * 100.0
            );
        }
    }
}
