//! Route guards: allowed clients, denied clients, required scopes, the per-(user, client)
//! throttle. Each is a layer a route (or router) opts into, behind [`crate::DurinLayer`].

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::http::Extensions;
use axum::response::{IntoResponse, Response};
use durin_http::GuardRule;
use futures::future::BoxFuture;
use tower::{Layer, Service};

use crate::extract::{ApiError, not_authenticated, outcome};
use crate::layer::AuthState;

/// A guard: requires an authenticated caller (401 otherwise) and then one rule (403 or
/// 429 when it fails). Stack several with `.layer(..)`.
#[derive(Debug, Clone)]
pub struct Guard {
    rule: Arc<GuardRule>,
}

/// The layer type of a [`Guard`] (a guard is its own layer).
pub type GuardLayer = Guard;

impl Guard {
    /// Only these clients (django-rest-durin's `AllowSpecificClients`).
    pub fn allow_clients<I: IntoIterator<Item = S>, S: Into<String>>(clients: I) -> Self {
        Guard::new(GuardRule::AllowClients(
            clients.into_iter().map(Into::into).collect(),
        ))
    }

    /// Every client but these (`DisallowSpecificClients`).
    pub fn deny_clients<I: IntoIterator<Item = S>, S: Into<String>>(clients: I) -> Self {
        Guard::new(GuardRule::DenyClients(
            clients.into_iter().map(Into::into).collect(),
        ))
    }

    /// The token must carry every one of these scopes.
    pub fn scopes<I: IntoIterator<Item = S>, S: Into<String>>(scopes: I) -> Self {
        Guard::new(GuardRule::Scopes(
            scopes.into_iter().map(Into::into).collect(),
        ))
    }

    /// The per-(user, client) throttle at the client's rate, else the service's default
    /// (django-rest-durin's `UserClientRateThrottle`): 429 with `Retry-After`.
    pub fn throttle() -> Self {
        Guard::new(GuardRule::Throttle)
    }

    fn new(rule: GuardRule) -> Self {
        Guard {
            rule: Arc::new(rule),
        }
    }
}

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

async fn check(rule: &GuardRule, extensions: &Extensions) -> Result<(), ApiError> {
    let auth = outcome(extensions)?.ok_or_else(|| not_authenticated(extensions))?;
    let state = extensions
        .get::<AuthState>()
        .expect("outcome() checked the layer");
    rule.check(&state.api, auth)
        .await
        .map_err(|e| ApiError::new(e, state.api.config()))
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

    fn call(&mut self, mut request: Request) -> Self::Future {
        let rule = self.rule.clone();
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let extensions = std::mem::take(request.extensions_mut());
            let verdict = check(&rule, &extensions).await;
            *request.extensions_mut() = extensions;
            match verdict {
                Ok(()) => inner.call(request).await,
                Err(e) => Ok(e.into_response()),
            }
        })
    }
}
