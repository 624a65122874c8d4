//! durin for [axum]: one tower layer authenticates each request once, extractors hand the
//! result to handlers, guards restrict routes by client, scope and throttle, and
//! [`endpoints`] serves the HTTP contract (login, refresh, token refresh, logout,
//! logout-all, sessions, API access).
//!
//! ```no_run
//! use std::sync::Arc;
//! use axum::{Json, Router, routing::get};
//! use durin_axum::{Auth, DurinLayer, Guard};
//! use durin_http::{Api, HttpConfig};
//!
//! async fn me(Auth(auth): Auth) -> Json<serde_json::Value> {
//!     Json(serde_json::json!({ "user": auth.user_id().as_str() }))
//! }
//!
//! fn app(api: Api) -> Router {
//!     let api_routes = Router::new()
//!         .route("/me", get(me))
//!         .route("/web-only", get(me).layer(Guard::allow_clients(["web"])))
//!         .merge(durin_axum::endpoints())
//!         .layer(DurinLayer::new(api));
//!     Router::new().nest("/api", api_routes)
//! }
//! ```
//!
//! The layer never rejects a request by itself: a route without an extractor or guard
//! stays public. [`Auth`] answers 401 when there are no credentials; `Option<Auth>` gives
//! `None` then, and both reject a bad or expired token (401) and a store outage (503).
//! A malformed header or token is refused before any store is asked. Every endpoint's
//! requests, answers and messages are described in `docs/http-api.md` in the durin
//! repository.
//!
//! # Testing handlers
//!
//! With the `testing` feature, [`testing::TestStack`] builds an in-memory durin stack;
//! `login_as(user, client)` returns a ready `Authorization` header for
//! `tower::ServiceExt::oneshot`:
//!
//! ```
//! # #[cfg(feature = "testing")]
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use axum::{Router, body::Body, http::Request, routing::get};
//! use durin_axum::{Auth, DurinLayer, testing::TestStack};
//! use tower::ServiceExt as _;
//!
//! async fn me(Auth(auth): Auth) -> String {
//!     auth.user_id().to_string()
//! }
//!
//! let stack = TestStack::new();
//! let app = Router::new().route("/me", get(me)).layer(DurinLayer::new(stack.api()));
//! let request = Request::get("/me")
//!     .header("Authorization", stack.login_as("alice", "web").await)
//!     .body(Body::empty())
//!     .unwrap();
//! assert_eq!(app.oneshot(request).await.unwrap().status(), 200);
//! # }
//! # #[cfg(not(feature = "testing"))] fn main() {}
//! ```
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `testing` | no | `testing` (durin-http's): `TestStack`, `login_as` |

mod endpoints;
mod extract;
mod guard;
mod layer;

pub use endpoints::endpoints;
pub use extract::{ApiError, Auth};
pub use guard::{Guard, GuardLayer};
pub use layer::{DurinLayer, DurinService};

pub use durin_http::{Api, CredentialChecker, ErrorResponse, HttpConfig};

/// Test helpers (feature `testing`): `testing::TestStack` builds an in-memory durin stack
/// and `login_as(user, client)` returns a ready `Authorization` header value.
#[cfg(feature = "testing")]
pub use durin_http::testing;
