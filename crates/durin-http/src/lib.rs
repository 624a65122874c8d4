//! The framework-free half of durin's HTTP contract (`HTTP-CONTRACT.md`), shared by
//! `durin-axum` and `durin-actix` so that both integrations stay thin and answer alike:
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
//! Statuses are plain `u16`s: actix-web 4 and axum 0.8 use different `http` crate
//! versions, and this crate depends on neither.

pub mod credentials;
mod endpoints;
mod error;
mod humanize;
mod login;
mod routes;
#[cfg(feature = "testing")]
pub mod testing;

pub use credentials::{CookieConfig, Credentials, CsrfDefence, HttpConfig, RequestInfo, SameSite};
pub use endpoints::{Api, GuardRule, Reply};
pub use error::{HttpError, messages};
pub use humanize::natural_delta;
pub use login::{CredentialChecker, LoginForm, LoginGuard, LoginGuardConfig};
pub use routes::{ROUTES, path_forms};
