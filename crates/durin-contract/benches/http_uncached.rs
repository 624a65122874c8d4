//! durin without its token cache against the least an application could do: on one
//! in-process server built from `axum_server::app` (the example server's own router,
//! request log and serve loop) with `--cache-ttl 0`, `GET /api/me` with a token against
//! `GET /raw`, a route on the same server that does exactly one raw sqlx `SELECT` by
//! primary key on a copy of durin's sessions table (same columns, same rows) through a
//! pool of the same settings, and answers the same JSON shape.
//!
//! durin gets [`TOKENS`] distinct tokens (one per user, so none is hot) and `/raw` as
//! many distinct keys (the same sessions' ids); rounds are interleaved and the medians
//! compared, at 1, 32 and 128 requests in flight, on PostgreSQL, Redis and SQLite. On
//! Redis, `/raw` is one `GET` of a copy of a session's record (not decoded: durin's record
//! format is its own) on one multiplexed connection.
//!
//! Run with `DATABASE_URL=postgres://postgres@127.0.0.1:5432/DB cargo bench -p
//! durin-contract --bench http_uncached` (PostgreSQL must be reachable).
//! `DURIN_CONTRACT_BACKENDS` picks the backends (default `postgres,redis,sqlite`; Redis at
//! `REDIS_URL`, default `redis://127.0.0.1:6379`).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use clap::Parser as _;
use durin_contract::load;
use durin_core::{ClientName, LoginOptions, UserId};
use futures::StreamExt as _;
use server_common::{Args, Demo};

/// Distinct tokens (and raw keys).
const TOKENS: usize = 10_000;
const ROUNDS: usize = 5;
const BUDGET: Duration = Duration::from_secs(2);

/// The pool of `/raw`.
#[derive(Clone)]
enum Raw {
    Postgres(sqlx::PgPool),
    Sqlite(sqlx::SqlitePool),
    /// A multiplexed connection and the key prefix of the copied records.
    Redis(redis::aio::MultiplexedConnection, Arc<str>),
}

/// `GET /raw` with `Authorization: Key <session id>`: one `SELECT` by primary key.
async fn raw(
    State(pool): State<Raw>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, StatusCode> {
    use sqlx::Row as _;
    let key = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Key "))
        .ok_or(StatusCode::UNAUTHORIZED)?;
    let fail = |_| StatusCode::SERVICE_UNAVAILABLE;
    let (user, client, session): (String, String, String) = match &pool {
        Raw::Postgres(pool) => {
            let row = sqlx::query("SELECT * FROM bench_raw_sessions WHERE id = $1")
                .bind(key)
                .fetch_optional(pool)
                .await
                .map_err(fail)?;
            let row = row.ok_or(StatusCode::UNAUTHORIZED)?;
            (
                row.try_get("user_id").map_err(fail)?,
                row.try_get("client").map_err(fail)?,
                row.try_get("id").map_err(fail)?,
            )
        }
        Raw::Sqlite(pool) => {
            let row = sqlx::query("SELECT * FROM bench_raw_sessions WHERE id = ?")
                .bind(key)
                .fetch_optional(pool)
                .await
                .map_err(fail)?;
            let row = row.ok_or(StatusCode::UNAUTHORIZED)?;
            (
                row.try_get("user_id").map_err(fail)?,
                row.try_get("client").map_err(fail)?,
                row.try_get("id").map_err(fail)?,
            )
        }
        Raw::Redis(connection, prefix) => {
            // One GET of the session's record; not decoded (durin's format is its own).
            let mut connection = connection.clone();
            let record: Option<Vec<u8>> = redis::cmd("GET")
                .arg(format!("{prefix}{key}"))
                .query_async(&mut connection)
                .await
                .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
            let record = record.ok_or(StatusCode::UNAUTHORIZED)?;
            (String::new(), String::new(), record.len().to_string())
        }
    };
    Ok(Json(
        serde_json::json!({ "user": user, "client": client, "session": session }),
    ))
}

/// What the server thread hands the load generator.
struct Served {
    base: String,
    tokens: Arc<[String]>,
    keys: Arc<[String]>,
    stop: tokio::sync::oneshot::Sender<()>,
    done: std::thread::JoinHandle<()>,
}

/// Starts the server on its own runtime (as a separate process would have), issues the
/// tokens and copies the sessions table.
fn start(backend: &str) -> Served {
    let backend = backend.to_owned();
    let (ready, served) = std::sync::mpsc::channel();
    let done = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("server runtime");
        runtime.block_on(async move {
            let scratch = std::env::temp_dir()
                .join(format!("durin-uncached-{}-{backend}", std::process::id()));
            std::fs::create_dir_all(&scratch).expect("scratch");
            let url = durin_contract::database_url(&backend, &scratch).await;
            let args = Args::try_parse_from([
                "axum-server".to_owned(),
                "--bind=127.0.0.1:0".to_owned(),
                format!("--database-url={url}"),
                "--client=web".to_owned(),
                "--cache-ttl=0".to_owned(),
                format!("--key-file={}", scratch.join("durin.key").display()),
            ])
            .expect("flags");
            let demo = Arc::new(Demo::start(args).await.expect("demo"));
            let durin = demo.api.durin().clone();
            let web = ClientName::new("web").expect("client name");
            let logins: Vec<(String, String)> = futures::stream::iter(0..TOKENS)
                .map(|i| {
                    let (durin, web) = (durin.clone(), web.clone());
                    async move {
                        let mut options = LoginOptions::default();
                        options.context.insert("ip".into(), "127.0.0.1".into());
                        options
                            .context
                            .insert("user_agent".into(), "reqwest".into());
                        let user = UserId::new(format!("bench-user-{i}")).expect("user id");
                        let login = durin.login(&user, &web, options).await.expect("login");
                        (
                            format!("Bearer {}", login.token.expose_secret()),
                            format!("Key {}", login.session.id.as_str()),
                        )
                    }
                })
                .buffer_unordered(8)
                .collect()
                .await;
            // The same pool settings as the server's (server_common::Demo::start).
            let config = durin_sqlx::PoolConfig::default()
                .with_acquire_timeout(Duration::from_secs(2))
                .with_statement_timeout(Some(Duration::from_secs(5)));
            let mut raw_keys: Option<Vec<String>> = None;
            let pool = match backend.as_str() {
                "postgres" => {
                    let store = durin_sqlx::PostgresStore::connect_with(&url, &config)
                        .await
                        .expect("pool");
                    let pool = store.pool().clone();
                    sqlx::query(
                        "CREATE TABLE bench_raw_sessions (LIKE durin_sessions INCLUDING ALL)",
                    )
                    .execute(&pool)
                    .await
                    .expect("copy");
                    sqlx::query("INSERT INTO bench_raw_sessions SELECT * FROM durin_sessions")
                        .execute(&pool)
                        .await
                        .expect("copy");
                    sqlx::query("ANALYZE bench_raw_sessions")
                        .execute(&pool)
                        .await
                        .expect("analyze");
                    Raw::Postgres(pool)
                }
                "sqlite" => {
                    let store = durin_sqlx::SqliteStore::connect_with(&url, &config)
                        .await
                        .expect("pool");
                    let pool = store.pool().clone();
                    sqlx::query("CREATE TABLE bench_raw_sessions AS SELECT * FROM durin_sessions")
                        .execute(&pool)
                        .await
                        .expect("copy");
                    sqlx::query(
                        "CREATE UNIQUE INDEX bench_raw_sessions_id ON bench_raw_sessions (id)",
                    )
                    .execute(&pool)
                    .await
                    .expect("index");
                    Raw::Sqlite(pool)
                }
                "redis" => {
                    // Each session record `{prefix}:s:<digest hex>` copied to
                    // `{prefix}:raw:<session id>` (SCAN, then GET and SET).
                    let prefix = url.rsplit_once("prefix=").expect("prefix").1.to_owned();
                    let client =
                        redis::Client::open(url.split('?').next().expect("url")).expect("redis");
                    let mut connection = client
                        .get_multiplexed_async_connection()
                        .await
                        .expect("redis");
                    let mut cursor = 0u64;
                    let mut copied = 0usize;
                    loop {
                        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                            .arg(cursor)
                            .arg("MATCH")
                            .arg(format!("{prefix}:s:*"))
                            .arg("COUNT")
                            .arg(1000)
                            .query_async(&mut connection)
                            .await
                            .expect("scan");
                        for key in keys {
                            let record: Vec<u8> = redis::cmd("GET")
                                .arg(&key)
                                .query_async(&mut connection)
                                .await
                                .expect("get");
                            let _: () = redis::cmd("SET")
                                .arg(format!("{prefix}:raw:{copied}"))
                                .arg(record)
                                .query_async(&mut connection)
                                .await
                                .expect("set");
                            copied += 1;
                        }
                        cursor = next;
                        if cursor == 0 {
                            break;
                        }
                    }
                    assert_eq!(copied, TOKENS, "the session records copied");
                    // The keys of /raw: the copies' numbers.
                    raw_keys = Some((0..copied).map(|n| format!("Key {n}")).collect());
                    Raw::Redis(connection, format!("{prefix}:raw:").into())
                }
                other => panic!("no raw route for {other}"),
            };
            let app = Router::new()
                .route("/raw", get(raw).with_state(pool))
                .merge(axum_server::app(&demo));
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let base = format!("http://{}", listener.local_addr().expect("addr"));
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let (tokens, mut keys): (Vec<_>, Vec<_>) = logins.into_iter().unzip();
            if let Some(raw_keys) = raw_keys {
                keys = raw_keys;
            }
            ready.send((base, tokens, keys, stop)).expect("hand over");
            let timeouts = axum_server::serve::Timeouts {
                header: demo.args.header_timeout,
                idle: demo.args.idle_timeout,
                body: demo.args.body_timeout,
            };
            axum_server::serve::serve(listener, app, timeouts, async move {
                let _ = stopped.await;
            })
            .await;
            demo.shutdown().await;
            let _ = std::fs::remove_dir_all(&scratch);
        });
    });
    let (base, tokens, keys, stop) = served.recv().expect("the server started");
    Served {
        base,
        tokens: tokens.into(),
        keys: keys.into(),
        stop,
        done,
    }
}

fn main() {
    let backends = std::env::var("DURIN_CONTRACT_BACKENDS")
        .unwrap_or_else(|_| "postgres,redis,sqlite".to_owned());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "GET /api/me (durin, --cache-ttl 0) vs GET /raw (one SELECT by primary key), same in-process axum-server, {TOKENS} distinct tokens / keys; {ROUNDS} interleaved rounds of {BUDGET:?}, medians"
    );
    println!();
    println!("| backend | in flight | raw r/s | durin uncached r/s | ratio (durin / raw) |");
    println!("|---|---|---|---|---|");
    for backend in backends.split(',').map(str::trim).filter(|b| !b.is_empty()) {
        let served = start(backend);
        runtime.block_on(async {
            let (me, raw) = (
                format!("{}/api/me", served.base),
                format!("{}/raw", served.base),
            );
            for in_flight in [1, 32, 128] {
                let warm_up = Duration::from_millis(500);
                load::throughput_each(&raw, &served.keys, in_flight, warm_up).await;
                load::throughput_each(&me, &served.tokens, in_flight, warm_up).await;
                let (mut r, mut d) = (Vec::new(), Vec::new());
                for _ in 0..ROUNDS {
                    r.push(load::throughput_each(&raw, &served.keys, in_flight, BUDGET).await);
                    d.push(load::throughput_each(&me, &served.tokens, in_flight, BUDGET).await);
                }
                let (r, d) = (load::median(r), load::median(d));
                println!(
                    "| {backend} | {in_flight} | {r:.0} | {d:.0} | {:.2} |",
                    d / r
                );
            }
        });
        let _ = served.stop.send(());
        served.done.join().expect("server thread");
    }
}
