//! Route guards: allowed clients, denied clients, required scopes, the per-(user, client)
//! throttle. Each wraps a resource or scope (`.wrap(Guard::throttle())`), inside
//! [`crate::DurinMiddleware`].

use std::future::{Ready, ready};
use std::rc::Rc;
use std::sync::Arc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::{Error, HttpMessage, ResponseError};
use durin_http::GuardRule;
use futures::future::LocalBoxFuture;

use crate::extract::{ApiError, not_authenticated, outcome};
use crate::middleware::AuthState;

/// A guard: requires an authenticated caller (401 otherwise) and then one rule (403 or
/// 429 when it fails).
#[derive(Debug, Clone)]
pub struct Guard {
    rule: Arc<GuardRule>,
}

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
    /// (`UserClientRateThrottle`): 429 with `Retry-After`.
    pub fn throttle() -> Self {
        Guard::new(GuardRule::Throttle)
    }

    fn new(rule: GuardRule) -> Self {
        Guard {
            rule: Arc::new(rule),
        }
    }
}

impl<S, B> Transform<S, ServiceRequest> for Guard
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = GuardService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(GuardService {
            service: Rc::new(service),
            rule: self.rule.clone(),
        }))
    }
}

/// The service of a [`Guard`].
pub struct GuardService<S> {
    service: Rc<S>,
    rule: Arc<GuardRule>,
}

async fn check(rule: &GuardRule, request: &ServiceRequest) -> Result<(), ApiError> {
    // The extensions cannot stay borrowed across the await: take what the check needs.
    let (auth, api) = {
        let extensions = request.extensions();
        let auth = outcome(&extensions)?
            .ok_or_else(|| not_authenticated(&extensions))?
            .clone();
        let api = extensions
            .get::<AuthState>()
            .map(|state| state.api.clone())
            .expect("outcome() checked the middleware");
        (auth, api)
    };
    rule.check(&api, &auth)
        .await
        .map_err(|e| ApiError::new(e, api.config()))
}

impl<S, B> Service<ServiceRequest> for GuardService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        let (service, rule) = (self.service.clone(), self.rule.clone());
        Box::pin(async move {
            match check(&rule, &request).await {
                Ok(()) => Ok(service.call(request).await?.map_into_left_body()),
                Err(e) => {
                    let response = e.error_response();
                    Ok(request.into_response(response).map_into_right_body())
                }
            }
        })
    }
}
