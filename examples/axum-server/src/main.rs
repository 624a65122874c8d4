//! durin's example server on axum: every endpoint of the HTTP contract under `/api/`,
//! plus demo routes, on an SQLite file by default.
//!
//! ```sh
//! cargo run -p axum-server -- --user alice:wonderland --client web --client mobile:30d:100/m
//! ```
//!
//! Routes, flags and answers: `docs/http-api.md`.

use std::future::IntoFuture as _;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use durin_axum::{Auth, DurinLayer, Guard};
use server_common::{Args, Demo};

async fn me(Auth(auth): Auth) -> Json<serde_json::Value> {
    Json(server_common::me(&auth))
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

async fn page(State(demo): State<Arc<Demo>>) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let mut response = demo.page().into_response();
    for &(name, value) in server_common::PAGE_HEADERS {
        response.headers_mut().insert(
            axum::http::HeaderName::from_static(name),
            axum::http::HeaderValue::from_static(value),
        );
    }
    response
}

async fn ready(State(demo): State<Arc<Demo>>) -> (StatusCode, Json<serde_json::Value>) {
    if demo.ready().await {
        (
            StatusCode::OK,
            Json(serde_json::json!({ "status": "ready" })),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "status": "unavailable" })),
        )
    }
}

async fn metrics(State(demo): State<Arc<Demo>>) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    match demo.metrics() {
        Some(body) => (
            [(
                axum::http::header::CONTENT_TYPE,
                server_common::METRICS_CONTENT_TYPE,
            )],
            body,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The application: the contract's endpoints and the demo routes under `/api`.
fn app(demo: &Arc<Demo>) -> Router {
    let api = demo.api.clone();
    let (mut routes, mut app) = (Router::new(), Router::new());
    // Mounted from the list the docs test checks (docs/http-api.md).
    for &(_, path) in server_common::DEMO_ROUTES {
        match path {
            "/api/me" => routes = routes.route("/me", get(me)),
            "/api/throttled" => {
                routes = routes.route("/throttled", get(me).layer(Guard::throttle()))
            }
            "/api/only-web" => {
                routes = routes.route("/only-web", get(me).layer(Guard::allow_clients(["web"])))
            }
            "/api/no-web" => {
                routes = routes.route("/no-web", get(me).layer(Guard::deny_clients(["web"])))
            }
            "/health" => app = app.route("/health", get(health)),
            "/" => app = app.route("/", get(page).with_state(demo.clone())),
            "/ready" => app = app.route("/ready", get(ready).with_state(demo.clone())),
            // Without a token; not mounted at all with --no-metrics (404).
            "/metrics" if demo.metrics_enabled() => {
                app = app.route("/metrics", get(metrics).with_state(demo.clone()))
            }
            "/metrics" => {}
            other => {
                panic!("server_common::DEMO_ROUTES lists {other}, which axum-server does not serve")
            }
        }
    }
    let routes = routes
        .merge(durin_axum::endpoints(api.clone()))
        .layer(DurinLayer::new(api));
    app.nest("/api", routes)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    use clap::Parser as _;
    server_common::init_tracing();
    let demo = Arc::new(Demo::start(Args::parse()).await?);
    let listener = tokio::net::TcpListener::bind(demo.args.bind).await?;
    let addr = listener.local_addr()?;
    println!("{}", demo.banner(addr));
    // On SIGTERM or Ctrl-C: stop accepting, let in-flight requests finish (at most
    // SHUTDOWN_GRACE), then stop the background tasks and close the pools.
    let signalled = Arc::new(tokio::sync::Notify::new());
    let serve = axum::serve(
        listener,
        app(&demo).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown({
        let signalled = signalled.clone();
        async move {
            server_common::shutdown_signal().await;
            signalled.notify_one();
        }
    })
    .into_future();
    tokio::select! {
        served = serve => served?,
        () = async {
            signalled.notified().await;
            tokio::time::sleep(server_common::SHUTDOWN_GRACE).await;
        } => tracing::warn!("requests still in flight after {:?}; stopping", server_common::SHUTDOWN_GRACE),
    }
    demo.shutdown().await;
    Ok(())
}
