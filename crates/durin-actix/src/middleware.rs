//! The authenticating middleware.

use std::future::{Ready, ready};
use std::rc::Rc;
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::{Error, HttpMessage};
use durin_http::{Api, AuthOutcome, RequestInfo};
use futures::future::LocalBoxFuture;

/// Authenticates every request once and leaves the [`AuthOutcome`] in its extensions,
/// for [`crate::Auth`], the [`crate::Guard`]s and [`crate::endpoints`].
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
            let headers = request.headers();
            let info = RequestInfo::from_request(request.method().as_str(), |name| {
                headers.get(name).map(|v| v.as_bytes())
            });
            let outcome = AuthOutcome::authenticate(api, &info).await;
            request.extensions_mut().insert(outcome);
            service.call(request).await
        })
    }
}
