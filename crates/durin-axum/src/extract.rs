//! Extractors and the error response.

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use durin_core::Authenticated;
use durin_http::{HttpConfig, HttpError};

use crate::layer::AuthState;

/// The authenticated caller. Rejects with 401 when the request has no credentials, and
/// with the contract's answer for a bad token (401), a refused CSRF check (403) or a
/// store outage (503). `Option<Auth>` is `None` without credentials instead.
#[derive(Debug, Clone)]
pub struct Auth(pub Authenticated);

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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, self.error.body_bytes()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        for (name, value) in self.error.headers(&self.keyword, &self.realm) {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
        response
    }
}

fn missing_layer() -> ApiError {
    tracing::error!("durin_axum::Auth used on a route without DurinLayer");
    ApiError::new(
        HttpError::detail(500, "Authentication is not configured."),
        &HttpConfig::default(),
    )
}

/// The outcome the layer left: `Ok(None)` without credentials.
pub(crate) fn outcome(extensions: &Extensions) -> Result<Option<&Authenticated>, ApiError> {
    let state = extensions.get::<AuthState>().ok_or_else(missing_layer)?;
    match &state.outcome {
        Ok(auth) => Ok(auth.as_ref()),
        Err(e) => Err(ApiError::new(e.clone(), state.api.config())),
    }
}

/// The error for "no credentials", in the layer's configuration.
pub(crate) fn not_authenticated(extensions: &Extensions) -> ApiError {
    match extensions.get::<AuthState>() {
        Some(state) => ApiError::new(HttpError::not_authenticated(), state.api.config()),
        None => missing_layer(),
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match outcome(&parts.extensions)? {
            Some(auth) => Ok(Auth(auth.clone())),
            None => Err(not_authenticated(&parts.extensions)),
        }
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(outcome(&parts.extensions)?.cloned().map(Auth))
    }
}
