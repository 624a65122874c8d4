//! Extractors and the error response.

use std::future::{Ready, ready};

use actix_web::dev::{Extensions, Payload};
use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use durin_core::Authenticated;
use durin_http::{HttpConfig, HttpError};

use crate::middleware::AuthState;

/// The authenticated caller. Rejects with 401 without credentials, and with the
/// contract's answer for a bad token (401), a refused CSRF check (403) or a store outage
/// (503).
#[derive(Debug, Clone)]
pub struct Auth(pub Authenticated);

/// The caller, if the request carries credentials: `None` without them, but still a
/// rejection for a bad token or a store outage.
#[derive(Debug, Clone)]
pub struct OptionalAuth(pub Option<Authenticated>);

/// An error response in the contract's shape: status, `{"detail": ...}`,
/// `WWW-Authenticate` on 401 and `Retry-After` on 429.
#[derive(Debug, Clone)]
pub struct ApiError {
    error: HttpError,
    keyword: String,
    realm: String,
}

impl ApiError {
    /// Wraps `error`, to be answered with `config`'s keyword and realm.
    pub fn new(error: HttpError, config: &HttpConfig) -> Self {
        ApiError {
            error,
            keyword: config.challenge_keyword().to_owned(),
            realm: config.realm.clone(),
        }
    }

    /// The error.
    pub fn error(&self) -> &HttpError {
        &self.error
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.error.status, self.error.body)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((CONTENT_TYPE, HeaderValue::from_static("application/json")));
        for (name, value) in self.error.headers(&self.keyword, &self.realm) {
            if let Ok(value) = HeaderValue::from_str(&value) {
                response.insert_header((HeaderName::from_static(name), value));
            }
        }
        response.body(self.error.body_bytes())
    }
}

fn missing_middleware() -> ApiError {
    tracing::error!("durin_actix::Auth used on a route without DurinMiddleware");
    ApiError::new(
        HttpError::detail(500, "Authentication is not configured."),
        &HttpConfig::default(),
    )
}

/// The outcome the middleware left: `Ok(None)` without credentials.
pub(crate) fn outcome(extensions: &Extensions) -> Result<Option<&Authenticated>, ApiError> {
    let state = extensions
        .get::<AuthState>()
        .ok_or_else(missing_middleware)?;
    match &state.outcome {
        Ok(auth) => Ok(auth.as_ref()),
        Err(e) => Err(ApiError::new(e.clone(), state.api.config())),
    }
}

/// The error for "no credentials", in the middleware's configuration.
pub(crate) fn not_authenticated(extensions: &Extensions) -> ApiError {
    match extensions.get::<AuthState>() {
        Some(state) => ApiError::new(HttpError::not_authenticated(), state.api.config()),
        None => missing_middleware(),
    }
}

impl FromRequest for Auth {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let extensions = request.extensions();
        ready(match outcome(&extensions) {
            Ok(Some(auth)) => Ok(Auth(auth.clone())),
            Ok(None) => Err(not_authenticated(&extensions)),
            Err(e) => Err(e),
        })
    }
}

impl FromRequest for OptionalAuth {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(outcome(&request.extensions()).map(|auth| OptionalAuth(auth.cloned())))
    }
}
