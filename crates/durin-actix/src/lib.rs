//! durin for [actix-web]: a middleware authenticates each request once, extractors hand
//! the result to handlers, [`Guard`]s restrict routes by client, scope and throttle, and
//! [`endpoints`] registers the HTTP contract (login, refresh, token refresh, logout,
//! logout-all, sessions, API access). The logic lives in `durin-http`, shared with
//! `durin-axum`, so both answer byte for byte alike.
//!
//! ```no_run
//! use actix_web::{App, HttpResponse, web};
//! use durin_actix::{Auth, DurinMiddleware, Guard};
//! use durin_http::Api;
//!
//! async fn me(Auth(auth): Auth) -> HttpResponse {
//!     HttpResponse::Ok().json(serde_json::json!({ "user": auth.user_id().as_str() }))
//! }
//!
//! fn app(api: Api) -> App<impl actix_web::dev::ServiceFactory<
//!     actix_web::dev::ServiceRequest, Config = (), Response = actix_web::dev::ServiceResponse,
//!     Error = actix_web::Error, InitError = ()>> {
//!     App::new().service(
//!         web::scope("/api")
//!             .wrap(DurinMiddleware::new(api.clone()))
//!             .configure(durin_actix::endpoints)
//!             .route("/me", web::get().to(me))
//!             .service(web::resource("/web-only").wrap(Guard::allow_clients(["web"])).to(me)),
//!     )
//! }
//! ```
//!
//! The middleware never rejects a request by itself. [`Auth`] answers 401 without
//! credentials; [`OptionalAuth`] gives `None` then; both reject a bad or expired token
//! (401) and a store outage (503). (actix-web's blanket `Option<T>` extractor turns every
//! rejection into `None`, a bad token included; use [`OptionalAuth`] instead.) A
//! malformed header or token is refused before any store is asked. Every endpoint's
//! requests, answers and messages are described in `docs/http-api.md` in the durin
//! repository.
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `testing` | no | `testing` (durin-http's): `TestStack`, whose `login_as(user, client)` gives a ready `Authorization` header for `actix_web::test` |

mod endpoints;
mod extract;
mod guard;
mod middleware;

pub use endpoints::endpoints;
pub use extract::{ApiError, Auth, OptionalAuth};
pub use guard::Guard;
pub use middleware::DurinMiddleware;

pub use durin_http::{Api, CredentialChecker, ErrorResponse, HttpConfig};

/// Test helpers (feature `testing`): `testing::TestStack` builds an in-memory durin stack
/// and `login_as(user, client)` returns a ready `Authorization` header value.
#[cfg(feature = "testing")]
pub use durin_http::testing;
