//! The authenticating layer.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::http::{HeaderMap, Method, header};
use axum::response::Response;
use durin_core::Authenticated;
use durin_http::{Api, HttpError, RequestInfo};
use futures::future::BoxFuture;
use tower::{Layer, Service};

/// What the layer found, in the request extensions for extractors and guards.
#[derive(Clone)]
pub(crate) struct AuthState {
    pub(crate) api: Arc<Api>,
    pub(crate) outcome: Result<Option<Authenticated>, HttpError>,
}

/// Authenticates every request once and leaves the outcome in its extensions.
#[derive(Clone, Debug)]
pub struct DurinLayer {
    api: Arc<Api>,
}

impl DurinLayer {
    /// A layer authenticating through `api`.
    pub fn new(api: Api) -> Self {
        DurinLayer { api: Arc::new(api) }
    }
}

impl<S> Layer<S> for DurinLayer {
    type Service = DurinService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        DurinService {
            inner,
            api: self.api.clone(),
        }
    }
}

/// The service of [`DurinLayer`].
#[derive(Clone, Debug)]
pub struct DurinService<S> {
    inner: S,
    api: Arc<Api>,
}

/// The parts of a request that credentials are read from.
pub(crate) fn request_info<'a>(method: &Method, headers: &'a HeaderMap) -> RequestInfo<'a> {
    let get = |name| {
        headers
            .get(name)
            .map(|v: &'a axum::http::HeaderValue| v.as_bytes())
    };
    RequestInfo {
        safe_method: matches!(
            *method,
            Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
        ),
        authorization: get(header::AUTHORIZATION),
        cookie: get(header::COOKIE),
        origin: get(header::ORIGIN),
        referer: get(header::REFERER),
        host: get(header::HOST),
    }
}

impl<S> Service<Request> for DurinService<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let api = self.api.clone();
        // The clone that was polled ready is the one to call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let outcome = {
                let info = request_info(request.method(), request.headers());
                api.authenticate(&info).await
            };
            request.extensions_mut().insert(AuthState { api, outcome });
            inner.call(request).await
        })
    }
}
