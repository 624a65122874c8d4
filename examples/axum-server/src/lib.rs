//! The axum example server as a library: [`app`] is the whole application (the contract's
//! endpoints, the demo routes, the request log) over a [`Demo`], and [`serve::serve`]
//! serves it with bounds on slow clients, so a test can serve any backend with the
//! server's own code (`examples/custom-store/tests/http.rs`).

use std::sync::Arc;

use axum::extract::{MatchedPath, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::routing::get;
use axum::{Json, Router};
use durin_axum::{Auth, DurinLayer, Guard};
use server_common::Demo;

pub mod serve;

async fn me(Auth(auth): Auth) -> Json<serde_json::Value> {
    Json(server_common::me(&auth))
}

async fn me_anonymous() -> Json<serde_json::Value> {
    Json(server_common::me_anonymous())
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

/// `GET /api/openapi.json`: the document, or 404 with `--no-openapi`.
async fn openapi(State(demo): State<Arc<Demo>>) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    match demo.openapi_json() {
        Some(json) => (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            json,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// `GET /metrics`: the Prometheus text, or 404 with `--no-metrics`.
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

/// What the request log needs from inside the router: the matched route template and
/// the session, carried out on the response. Both are shared, not copied: the template
/// is the router's `Arc<str>`, the session the cache's `Arc`.
#[derive(Clone)]
struct RequestTag {
    route: Option<MatchedPath>,
    session: Option<Arc<durin_core::Session>>,
}

/// Inside the `/api` routing, inside `DurinLayer`: tags the response with the route
/// template and the authenticated session, if any (a refused or absent token is left
/// alone: the handler answers for it).
async fn tag_api(
    matched: Option<MatchedPath>,
    request: axum::extract::Request,
    next: Next,
) -> axum::response::Response {
    let session =
        server_common::logged_session(request.extensions().get::<server_common::AuthOutcome>());
    tagged(matched, session, request, next).await
}

/// The routes outside `/api` (no token): the route template only.
async fn tag_route(
    matched: Option<MatchedPath>,
    request: axum::extract::Request,
    next: Next,
) -> axum::response::Response {
    tagged(matched, None, request, next).await
}

async fn tagged(
    route: Option<MatchedPath>,
    session: Option<Arc<durin_core::Session>>,
    request: axum::extract::Request,
    next: Next,
) -> axum::response::Response {
    let mut response = next.run(request).await;
    response
        .extensions_mut()
        .insert(RequestTag { route, session });
    response
}

/// Around everything: one log line per request at completion (server_common::log_request).
async fn log_requests(request: axum::extract::Request, next: Next) -> axum::response::Response {
    let started = std::time::Instant::now();
    let method = request.method().clone();
    let response = next.run(request).await;
    let tag = response.extensions().get::<RequestTag>();
    server_common::log_request(
        method.as_str(),
        tag.and_then(|t| t.route.as_ref()).map(MatchedPath::as_str),
        response.status().as_u16(),
        started.elapsed(),
        tag.and_then(|t| t.session.as_ref()).map(|s| s.id.as_str()),
    );
    response
}

/// The application: the contract's endpoints and the demo routes under `/api`.
pub fn app(demo: &Arc<Demo>) -> Router {
    let api = demo.api.clone();
    let (mut routes, mut app) = (Router::new(), Router::new());
    // Mounted from the list the docs test checks (docs/http-api.md).
    for &(_, path) in server_common::DEMO_ROUTES {
        match path {
            "/api/me" => routes = routes.route("/me", get(me)),
            "/api/me-anonymous" => routes = routes.route("/me-anonymous", get(me_anonymous)),
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
            "/api/openapi.json" => {
                routes = routes.route("/openapi.json", get(openapi).with_state(demo.clone()))
            }
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
        .merge(durin_axum::endpoints())
        .route_layer(middleware::from_fn(tag_api))
        .layer(DurinLayer::new(api));
    app.route_layer(middleware::from_fn(tag_route))
        .nest("/api", routes)
        .layer(middleware::from_fn(log_requests))
}
