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

use crate::extract::{ApiError, outcome};

durin_http::guard_type! {
    /// A guard: requires an authenticated caller (401 otherwise) and then one rule (403 or
    /// 429 when it fails).
    pub struct Guard;
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
            // The extensions cannot stay borrowed across the check: the outcome is
            // cloned (reference counts only).
            let outcome = outcome(&request.extensions()).cloned();
            let verdict = match outcome {
                Ok(outcome) => outcome.check(&rule).await.map_err(ApiError),
                Err(e) => Err(e),
            };
            match verdict {
                Ok(()) => Ok(service.call(request).await?.map_into_left_body()),
                Err(e) => Ok(request
                    .into_response(e.error_response())
                    .map_into_right_body()),
            }
        })
    }
}
