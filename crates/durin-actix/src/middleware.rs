//! The authenticating middleware.

use std::future::{Ready, ready};
use std::rc::Rc;
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::{Method, header};
use actix_web::{Error, HttpMessage};
use durin_core::Authenticated;
use durin_http::{Api, HttpError, RequestInfo};
use futures::future::LocalBoxFuture;

/// What the middleware found, in the request extensions.
#[derive(Clone)]
pub(crate) struct AuthState {
    pub(crate) api: Arc<Api>,
    pub(crate) outcome: Result<Option<Authenticated>, HttpError>,
}

/// Authenticates every request once and leaves the outcome in its extensions.
#[derive(Clone, Debug)]
pub struct DurinMiddleware {
    api: Arc<Api>,
}

impl DurinMiddleware {
    /// A middleware authenticating through `api`.
    pub fn new(api: Api) -> Self {
        DurinMiddleware { api: Arc::new(api) }
    }
}

impl<S, B> Transform<S, ServiceRequest> for DurinMiddleware
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Transform = DurinService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(DurinService {
            service: Rc::new(service),
            api: self.api.clone(),
        }))
    }
}

/// The service of [`DurinMiddleware`].
pub struct DurinService<S> {
    service: Rc<S>,
    api: Arc<Api>,
}

impl<S, B> Service<ServiceRequest> for DurinService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        let (service, api) = (self.service.clone(), self.api.clone());
        Box::pin(async move {
            let outcome = {
                let headers = request.headers();
                let get = |name| {
                    headers
                        .get(name)
                        .map(|v: &header::HeaderValue| v.as_bytes())
                };
                let info = RequestInfo {
                    safe_method: matches!(
                        *request.method(),
                        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
                    ),
                    authorization: get(header::AUTHORIZATION),
                    cookie: get(header::COOKIE),
                    origin: get(header::ORIGIN),
                    referer: get(header::REFERER),
                    host: get(header::HOST),
                };
                api.authenticate(&info).await
            };
            request.extensions_mut().insert(AuthState { api, outcome });
            service.call(request).await
        })
    }
}
