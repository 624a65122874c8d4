//! Extractors, the error response, and writing durin-http's responses.

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use durin_core::Authenticated;
use durin_http::{AuthOutcome, ErrorResponse};

/// The authenticated caller. Rejects with 401 when the request has no credentials, and
/// with the contract's answer for a bad token (401), a refused CSRF check (403) or a
/// store outage (503). `Option<Auth>` is `None` without credentials instead.
#[derive(Debug, Clone)]
pub struct Auth(pub Authenticated);

/// An error response in the contract's shape: status, `{"detail": ...}`,
/// `WWW-Authenticate` on 401 and `Retry-After` on 429. Make one with
/// `ApiError(ErrorResponse::new(error, config))`; `.0.error()` is the error.
#[derive(Debug, Clone)]
pub struct ApiError(pub ErrorResponse);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        write(self.0.into_response())
    }
}

/// Writes one of durin-http's responses as axum's.
pub(crate) fn write(answer: durin_http::Response) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = Response::new(axum::body::Body::from(answer.body));
    *response.status_mut() = status;
    for (name, value) in answer.headers {
        if let Ok(value) = HeaderValue::try_from(value) {
            response
                .headers_mut()
                .append(HeaderName::from_static(name), value);
        }
    }
    response
}

/// The outcome the layer left; a 500 rejection without the layer.
pub(crate) fn outcome(extensions: &Extensions) -> Result<&AuthOutcome, ApiError> {
    extensions
        .get::<AuthOutcome>()
        .ok_or_else(|| ApiError(ErrorResponse::missing_layer()))
}

impl<S: Send + Sync> FromRequestParts<S> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let auth = outcome(&parts.extensions)?.require().map_err(ApiError)?;
        Ok(Auth(auth.clone()))
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        let auth = outcome(&parts.extensions)?.caller().map_err(ApiError)?;
        Ok(auth.cloned().map(Auth))
    }
}
