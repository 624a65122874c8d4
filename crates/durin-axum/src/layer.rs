//! The authenticating layer.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::Response;
use durin_http::{Api, AuthOutcome, RequestInfo};
use futures::future::BoxFuture;
use tower::{Layer, Service};

/// Authenticates every request once and leaves the [`AuthOutcome`] in its extensions,
/// for [`crate::Auth`], the [`crate::Guard`]s and [`crate::endpoints`].
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
                let headers = request.headers();
                let info = RequestInfo::from_request(request.method().as_str(), |name| {
                    headers.get(name).map(|v| v.as_bytes())
                });
                AuthOutcome::authenticate(api, &info).await
            };
            request.extensions_mut().insert(outcome);
            inner.call(request).await
        })
    }
}
