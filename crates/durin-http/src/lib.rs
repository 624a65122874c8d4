//! The framework-free half of durin's HTTP API, shared by `durin-axum` and `durin-actix`
//! so that both integrations stay thin and answer alike.
//!
//! Every endpoint, body, status, message and header — and what each answers to malformed
//! input — is described in `docs/http-api.md` in the durin repository. In short: a
//! malformed `Authorization` header or token is refused with 401 before any store is
//! asked, a login body that is not JSON or a form is 400 `Malformed request.`, missing
//! or blank login fields are 400 with per-field messages, and a store outage is 503.
//!
//! The pieces:
//!
//! - [`credentials`]: reading a token from the `Authorization` header or a cookie, with
//!   django-rest-durin's exact messages for malformed headers, and the CSRF check for
//!   cookie-authenticated unsafe methods;
//! - [`HttpError`]: every failure as a status, a JSON body and headers
//!   (`WWW-Authenticate`, `Retry-After`);
//! - [`Api`]: the endpoints (login, refresh, token refresh, logout, logout-all, sessions,
//!   API access) as plain async functions from parsed requests to [`Reply`]s;
//! - [`LoginForm`], [`CredentialChecker`], [`LoginGuard`]: the login flow and its
//!   failed-attempt throttle.
//!
//! - named personal tokens (`GET/POST tokens/`, `DELETE tokens/{id}`) and
//!   per-(user, client) settings (`GET/PUT settings/`), also on [`Api`], with their
//!   messages in [`token_messages`];
//! - [`IntrospectionRequest`], [`IdentityHeaders`]: RFC 7662 token introspection
//!   ([`Api::introspect`]) and forward-auth for reverse proxies ([`Api::forward_auth`]);
//!
//! - [`AuthOutcome`], [`EndpointRequest`], [`Response`], [`ErrorResponse`]: what an
//!   integration does, without a framework — the layer's outcome, the guards' check and
//!   [`AuthOutcome::serve`], the one dispatch of every endpoint, answering rendered
//!   [`Response`]s; [`Reply`] holds the tokens it hands out as `TokenString`s, so its
//!   `Debug` redacts them by type;
//! - [`ROUTES`]: every [`Route`] both integrations mount (from this list), with the
//!   largest body it reads;
//! - `openapi` (feature `openapi`): an OpenAPI 3.1 document of those endpoints under the
//!   application's mount point, `openapi::document("/api")`;
//! - [`testing`] (feature `testing`): an in-memory stack and ready `Authorization`
//!   headers for application tests.
//!
//! Statuses are plain `u16`s: actix-web 4 and axum 0.8 use different `http` crate
//! versions, and this crate depends on neither.
//!
//! ```
//! use std::sync::Arc;
//! use durin_core::{Client, ClientName, DigestKey, Durin, LoginOptions, MemoryStore, StoreError, UserId};
//! use durin_http::{Api, CredentialChecker, HttpConfig, RequestInfo};
//!
//! /// The application's user table; here nobody can log in with a password.
//! struct NoUsers;
//!
//! #[async_trait::async_trait]
//! impl CredentialChecker for NoUsers {
//!     async fn check(&self, _: &str, _: &str) -> Result<Option<UserId>, StoreError> {
//!         Ok(None)
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = Arc::new(MemoryStore::new());
//! let durin = Durin::builder(store.clone(), store, DigestKey::generate("k1")).build();
//! let web = ClientName::new("web")?;
//! durin.create_client(&Client::new(web.clone())).await?;
//! let api = Api::new(durin.clone(), HttpConfig::default(), Arc::new(NoUsers));
//!
//! // What an integration does with each request's headers:
//! let login = durin.login(&UserId::new("42").unwrap(), &web, LoginOptions::default()).await?;
//! let header = format!("Bearer {}", login.token.expose_secret());
//! let info = RequestInfo { authorization: Some(header.as_bytes()), safe_method: true, ..Default::default() };
//! let auth = api.authenticate(&info).await?.expect("our credentials");
//! assert_eq!(api.sessions(&auth).await?.status, 200);
//!
//! // Malformed input is answered before any I/O, with django-rest-durin's messages.
//! let info = RequestInfo { authorization: Some(b"Bearer"), ..Default::default() };
//! let refused = api.authenticate(&info).await.unwrap_err();
//! assert_eq!((refused.status, refused.body["detail"].as_str()),
//!            (401, Some("Invalid token header. No credentials provided.")));
//! # Ok(()) }
//! ```
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `testing` | no | [`testing`]: `TestStack` (in-memory stores) and `login_as(user, client)` |
//! | `openapi` | no | `openapi`: `document(base)`, the OpenAPI 3.1 document of [`ROUTES`] (utoipa) |

mod adapter;
mod config;
pub mod credentials;
mod endpoints;
mod error;
mod gateway;
mod humanize;
mod login;
mod login_guard;
mod metrics;
#[cfg(feature = "openapi")]
pub mod openapi;
mod proxy;
mod reply;
mod routes;
#[cfg(feature = "testing")]
pub mod testing;
mod tokens;

pub use adapter::{AuthOutcome, EndpointRequest, ErrorResponse, RequestBody, is_safe_method};
pub use credentials::{CookieConfig, Credentials, CsrfDefence, HttpConfig, RequestInfo, SameSite};
pub use endpoints::{Api, GuardRule};
pub use error::{HttpError, messages};
pub use gateway::{IdentityHeaders, IntrospectionRequest};
pub use humanize::natural_delta;
pub use login::{CredentialChecker, LoginForm, LoginGuard, LoginGuardConfig, Reservation};
pub use proxy::{ForwardedHeader, client_address};
pub use reply::{Body, Reply, Response};
pub use routes::{Endpoint, ROUTES, Route, path_forms};
pub use tokens::token_messages;
