//! Extractors, the error response, and writing durin-http's responses.

use std::future::{Ready, ready};

use actix_web::dev::{Extensions, Payload};
use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use durin_core::Authenticated;
use durin_http::{AuthOutcome, ErrorResponse};

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
/// `WWW-Authenticate` on 401 and `Retry-After` on 429. Make one with
/// `ApiError(ErrorResponse::new(error, config))`; `.0.error()` is the error.
#[derive(Debug, Clone)]
pub struct ApiError(pub ErrorResponse);

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.0.error().status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        write(self.0.response().clone())
    }
}

/// Writes one of durin-http's responses as actix-web's.
pub(crate) fn write(answer: durin_http::Response) -> HttpResponse {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = HttpResponse::build(status);
    for (name, value) in answer.headers {
        if let Ok(value) = HeaderValue::try_from(value) {
            response.append_header((HeaderName::from_static(name), value));
        }
    }
    response.body(answer.body)
}

/// The outcome the middleware left; a 500 rejection without the middleware.
pub(crate) fn outcome(extensions: &Extensions) -> Result<&AuthOutcome, ApiError> {
    extensions
        .get::<AuthOutcome>()
        .ok_or_else(|| ApiError(ErrorResponse::missing_layer()))
}

impl FromRequest for Auth {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let extensions = request.extensions();
        ready(
            outcome(&extensions)
                .and_then(|o| o.require().map_err(ApiError))
                .map(|auth| Auth(auth.clone())),
        )
    }
}

impl FromRequest for OptionalAuth {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let extensions = request.extensions();
        ready(
            outcome(&extensions)
                .and_then(|o| o.caller().map_err(ApiError))
                .map(|auth| OptionalAuth(auth.cloned())),
        )
    }
}
