//! durin's example server on actix-web: every endpoint of the HTTP contract under
//! `/api/`, plus the same demo routes as `axum-server`, with the same flags.
//!
//! ```sh
//! cargo run --bin actix-server -- --user alice:wonderland --client web --client mobile:30d:100/m
//! ```
//!
//! Routes, flags and answers: `docs/http-api.md`.

use actix_web::{App, HttpResponse, HttpServer, web};
use durin_actix::{Auth, DurinMiddleware, Guard};
use server_common::{Args, Demo};

async fn me(Auth(auth): Auth) -> HttpResponse {
    HttpResponse::Ok().json(server_common::me(&auth))
}

async fn me_anonymous() -> HttpResponse {
    HttpResponse::Ok().json(server_common::me_anonymous())
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

async fn page(demo: web::Data<Demo>) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    for &header in server_common::PAGE_HEADERS {
        response.insert_header(header);
    }
    response.body(demo.page())
}

async fn ready(demo: web::Data<Demo>) -> HttpResponse {
    if demo.ready().await {
        HttpResponse::Ok().json(serde_json::json!({ "status": "ready" }))
    } else {
        HttpResponse::ServiceUnavailable().json(serde_json::json!({ "status": "unavailable" }))
    }
}

/// `GET /api/openapi.json`: the document, or 404 with `--no-openapi`.
async fn openapi(demo: web::Data<Demo>) -> HttpResponse {
    match demo.openapi_json() {
        Some(json) => HttpResponse::Ok()
            .content_type("application/json")
            .body(json),
        None => HttpResponse::NotFound().finish(),
    }
}

/// `GET /metrics`: the Prometheus text, or 404 with `--no-metrics`.
async fn metrics(demo: web::Data<Demo>) -> HttpResponse {
    match demo.metrics() {
        Some(body) => HttpResponse::Ok()
            .content_type(server_common::METRICS_CONTENT_TYPE)
            .body(body),
        None => HttpResponse::NotFound().finish(),
    }
}

/// Logs a finished request (server_common::log_request): the route template actix
/// matched and, when the request authenticated, its session.
fn log_request(
    method: &actix_web::http::Method,
    response: &actix_web::dev::ServiceResponse,
    started: std::time::Instant,
) {
    use actix_web::HttpMessage as _;
    let request = response.request();
    let route = request.match_pattern();
    // Only `/api` runs DurinMiddleware; elsewhere there is no outcome, so no session.
    let session =
        server_common::logged_session(request.extensions().get::<server_common::AuthOutcome>());
    server_common::log_request(
        method.as_str(),
        route.as_deref(),
        response.status().as_u16(),
        started.elapsed(),
        session.as_ref().map(|s| s.id.as_str()),
    );
}

/// `payload`, failing once `timeout` has passed (from now: the end of the headers); the
/// endpoint then answers 413 and actix closes the connection.
fn body_deadline(
    payload: actix_web::dev::Payload,
    timeout: std::time::Duration,
) -> actix_web::dev::Payload {
    use futures::StreamExt as _;
    let until = tokio::time::Instant::now() + timeout;
    let stream = futures::stream::unfold(Some(payload), move |state| async move {
        let mut payload = state?;
        match tokio::time::timeout_at(until, payload.next()).await {
            Ok(Some(item)) => Some((item, Some(payload))),
            Ok(None) => None,
            Err(_) => {
                tracing::debug!("request body timed out");
                let timed_out = std::io::Error::new(std::io::ErrorKind::TimedOut, "body timeout");
                Some((Err(actix_web::error::PayloadError::Io(timed_out)), None))
            }
        }
    });
    actix_web::dev::Payload::from(Box::pin(stream)
        as std::pin::Pin<
            Box<
                dyn futures::Stream<
                        Item = Result<actix_web::web::Bytes, actix_web::error::PayloadError>,
                    >,
            >,
        >)
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    use clap::Parser as _;
    let args = Args::parse();
    // Kept to the end of main: dropping it flushes the buffered log lines.
    let _logs = server_common::init_tracing(args.log_format);
    let demo = web::Data::new(Demo::start(args).await?);
    let api = demo.api.clone();
    let bind = demo.args.bind;
    let shared = demo.clone();
    let (header_timeout, idle_timeout, body_timeout) = (
        demo.args.header_timeout,
        demo.args.idle_timeout,
        demo.args.body_timeout,
    );
    let server = HttpServer::new(move || {
        let (mut scope, mut app) = (web::scope("/api"), App::new());
        // Mounted from the list the docs test checks (docs/http-api.md).
        for &(_, path) in server_common::DEMO_ROUTES {
            match path {
                "/api/me" => scope = scope.route("/me", web::get().to(me)),
                "/api/me-anonymous" => {
                    scope = scope.route("/me-anonymous", web::get().to(me_anonymous))
                }
                "/api/throttled" => {
                    scope =
                        scope.service(web::resource("/throttled").wrap(Guard::throttle()).to(me))
                }
                "/api/only-web" => {
                    scope = scope.service(
                        web::resource("/only-web")
                            .wrap(Guard::allow_clients(["web"]))
                            .to(me),
                    )
                }
                "/api/no-web" => {
                    scope = scope.service(
                        web::resource("/no-web")
                            .wrap(Guard::deny_clients(["web"]))
                            .to(me),
                    )
                }
                "/health" => app = app.route("/health", web::get().to(health)),
                "/" => app = app.app_data(shared.clone()).route("/", web::get().to(page)),
                "/ready" => {
                    app = app
                        .app_data(shared.clone())
                        .route("/ready", web::get().to(ready))
                }
                "/api/openapi.json" => {
                    app = app.app_data(shared.clone());
                    scope = scope.route("/openapi.json", web::get().to(openapi))
                }
                // Without a token; not mounted at all with --no-metrics (404).
                "/metrics" if shared.metrics_enabled() => {
                    app = app
                        .app_data(shared.clone())
                        .route("/metrics", web::get().to(metrics))
                }
                "/metrics" => {}
                other => panic!(
                    "server_common::DEMO_ROUTES lists {other}, which actix-server does not serve"
                ),
            }
        }
        app.service(
            scope
                .wrap(DurinMiddleware::new(api.clone()))
                .configure(durin_actix::endpoints),
        )
        .wrap_fn(move |mut request, service| {
            use actix_web::HttpMessage as _;
            use actix_web::dev::Service as _;
            if !body_timeout.is_zero() {
                let payload = request.take_payload();
                request.set_payload(body_deadline(payload, body_timeout));
            }
            service.call(request)
        })
        // Around everything: one log line per request at completion.
        .wrap_fn(|request, service| {
            use actix_web::dev::Service as _;
            let started = std::time::Instant::now();
            let method = request.method().clone();
            let call = service.call(request);
            async move {
                let response = call.await?;
                log_request(&method, &response, started);
                Ok(response)
            }
        })
    })
    // Signals are ours: actix's own handling stops at once on Ctrl-C, and both must
    // drain. On SIGTERM or Ctrl-C: stop accepting, let in-flight requests finish (at
    // most SHUTDOWN_GRACE), then stop the background tasks and close the pools.
    .disable_signals()
    .shutdown_timeout(server_common::SHUTDOWN_GRACE.as_secs())
    // Slow clients: the first request's headers within --header-timeout, the next
    // request within --idle-timeout of the previous answer; the body within
    // --body-timeout (`body_deadline`, below). Zero turns each off.
    .client_request_timeout(header_timeout)
    .keep_alive(if idle_timeout.is_zero() {
        actix_web::http::KeepAlive::Os
    } else {
        actix_web::http::KeepAlive::Timeout(idle_timeout)
    })
    .client_disconnect_timeout(std::time::Duration::from_secs(1))
    .bind(bind)?;
    let addr = server.addrs()[0];
    println!("{}", demo.banner(addr));
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(async move {
        server_common::shutdown_signal().await;
        handle.stop(true).await;
    });
    server.await?;
    demo.shutdown().await;
    Ok(())
}
