//! Route guards: allowed clients, denied clients, required scopes, the per-(user, client)
//! throttle. Each is a layer a route (or router) opts into, behind [`crate::DurinLayer`].

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use durin_http::GuardRule;
use futures::future::BoxFuture;
use tower::{Layer, Service};

use crate::extract::{ApiError, outcome};

durin_http::guard_type! {
    /// A guard: requires an authenticated caller (401 otherwise) and then one rule (403 or
    /// 429 when it fails). Stack several with `.layer(..)`.
    pub struct Guard;
}

/// The layer type of a [`Guard`] (a guard is its own layer).
pub type GuardLayer = Guard;

impl<S> Layer<S> for Guard {
    type Service = GuardService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GuardService {
            inner,
            rule: self.rule.clone(),
        }
    }
}

/// The service of a [`Guard`].
#[derive(Debug, Clone)]
pub struct GuardService<S> {
    inner: S,
    rule: Arc<GuardRule>,
}

impl<S> Service<Request> for GuardService<S>
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

    fn call(&mut self, request: Request) -> Self::Future {
        let rule = self.rule.clone();
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            // The outcome is borrowed, not cloned: the parts stay apart from the body
            // (which is not `Sync`) while the check runs.
            let (parts, body) = request.into_parts();
            let verdict = match outcome(&parts.extensions) {
                Ok(outcome) => outcome.check(&rule).await.map_err(ApiError),
                Err(e) => Err(e),
            };
            match verdict {
                Ok(()) => inner.call(Request::from_parts(parts, body)).await,
                Err(e) => Ok(e.into_response()),
            }
        })
    }
}
