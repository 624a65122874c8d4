//! Everything a framework integration does, without the framework: the authentication
//! outcome its layer leaves on a request, the guards' checks, the endpoints behind one
//! [`AuthOutcome::serve`], and errors rendered as [`Response`]s.
//!
//! An integration (`durin-axum`, `durin-actix`) is then only an adapter: it builds a
//! [`RequestInfo`] from its request's method and headers, stores the [`AuthOutcome`] in
//! the request's extensions, reads a route's body up to its [`Route::body_limit`], and
//! writes [`Response`]s back in its own types.
//!
//! [`Route::body_limit`]: crate::Route::body_limit

use std::net::IpAddr;
use std::sync::Arc;

use durin_core::Authenticated;

use crate::endpoints::{Api, GuardRule};
use crate::error::{HttpError, messages};
use crate::login::LoginForm;
use crate::reply::Response;
use crate::routes::Endpoint;

/// Whether `method` is safe (GET, HEAD, OPTIONS, TRACE): no CSRF check for cookies.
pub fn is_safe_method(method: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "OPTIONS" | "TRACE")
}

/// What the integrations pass in from a request.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestInfo<'a> {
    /// Whether the method is safe (GET, HEAD, OPTIONS, TRACE): no CSRF check.
    pub safe_method: bool,
    /// The `Authorization` header, if any.
    pub authorization: Option<&'a [u8]>,
    /// The `Cookie` header, if any.
    pub cookie: Option<&'a [u8]>,
    /// The `Origin` header, if any.
    pub origin: Option<&'a [u8]>,
    /// The `Referer` header, if any.
    pub referer: Option<&'a [u8]>,
    /// The `Host` header, if any.
    pub host: Option<&'a [u8]>,
}

impl<'a> RequestInfo<'a> {
    /// What authentication reads from a request: its `method`, and `header`, the first
    /// value of a header by its lower-case name.
    pub fn from_request(method: &str, header: impl Fn(&'static str) -> Option<&'a [u8]>) -> Self {
        RequestInfo {
            safe_method: is_safe_method(method),
            authorization: header("authorization"),
            cookie: header("cookie"),
            origin: header("origin"),
            referer: header("referer"),
            host: header("host"),
        }
    }
}

/// An [`HttpError`] and its rendering in one configuration: the rejection the
/// integrations' extractors and guards answer with.
#[derive(Debug, Clone)]
pub struct ErrorResponse {
    error: HttpError,
    response: Response,
}

impl ErrorResponse {
    /// `error`, answered with `config`'s challenge keyword and realm.
    pub fn new(error: HttpError, config: &crate::HttpConfig) -> Self {
        let response = Response::error(&error, config);
        ErrorResponse { error, response }
    }

    /// The answer of a route that needs the authenticating layer but was mounted
    /// without it: 500 `Authentication is not configured.` (and an error in the log).
    pub fn missing_layer() -> Self {
        tracing::error!("a durin route or extractor is used without the durin layer");
        ErrorResponse::new(
            HttpError::detail(500, "Authentication is not configured."),
            &crate::HttpConfig::default(),
        )
    }

    /// The error.
    pub fn error(&self) -> &HttpError {
        &self.error
    }

    /// The rendered answer.
    pub fn response(&self) -> &Response {
        &self.response
    }

    /// The rendered answer, to write.
    pub fn into_response(self) -> Response {
        self.response
    }
}

impl std::fmt::Display for ErrorResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.error, f)
    }
}

impl std::error::Error for ErrorResponse {}

/// A request body as an integration read it for a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestBody<'a> {
    /// The route reads no body ([`Route::body_limit`](crate::Route::body_limit) `None`).
    Unread,
    /// The body, within the route's limit.
    Read(&'a [u8]),
    /// Larger than the route's limit, or it could not be read: 413.
    TooLarge,
}

/// What an endpoint reads from a request besides the authentication outcome.
pub struct EndpointRequest<'a> {
    /// The `{id}` path parameter, on the routes that have one.
    pub id: Option<&'a str>,
    /// The connection's peer address.
    pub peer: Option<IpAddr>,
    /// Every value of a header by its lower-case name, joined by `,`.
    pub header: &'a (dyn Fn(&str) -> Option<String> + Sync),
    /// The body, read up to the route's limit.
    pub body: RequestBody<'a>,
}

/// The authentication outcome of one request, left in its extensions by the
/// integration's layer for the extractors, the guards and the endpoints. Cheap to clone.
///
/// It carries the [`Api`] that produced it, so the endpoints and guards of a request use
/// the same service as its layer: an application cannot wire two different ones.
#[derive(Clone)]
pub struct AuthOutcome {
    api: Arc<Api>,
    result: Result<Option<Authenticated>, HttpError>,
}

impl std::fmt::Debug for AuthOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthOutcome")
            .field(
                "session",
                &self
                    .result
                    .as_ref()
                    .map(|auth| auth.as_ref().map(|a| &a.session.id)),
            )
            .finish_non_exhaustive()
    }
}

impl AuthOutcome {
    /// Authenticates a request through `api` (once per request: see
    /// [`Api::authenticate`]).
    pub async fn authenticate(api: Arc<Api>, info: &RequestInfo<'_>) -> Self {
        let result = api.authenticate(info).await;
        AuthOutcome { api, result }
    }

    /// The service the request was authenticated with.
    pub fn api(&self) -> &Arc<Api> {
        &self.api
    }

    /// The caller: `Ok(None)` without credentials.
    ///
    /// # Errors
    /// The contract's answer to bad credentials (401), a refused CSRF check (403) or a
    /// store outage (503).
    pub fn caller(&self) -> Result<Option<&Authenticated>, ErrorResponse> {
        self.result
            .as_ref()
            .map(Option::as_ref)
            .map_err(|e| self.reject(e.clone()))
    }

    /// The caller, required.
    ///
    /// # Errors
    /// As [`caller`](Self::caller), and 401 without credentials.
    pub fn require(&self) -> Result<&Authenticated, ErrorResponse> {
        self.authenticated().map_err(|e| self.reject(e))
    }

    /// The caller, or the error to answer (401 without credentials).
    fn authenticated(&self) -> Result<&Authenticated, HttpError> {
        match &self.result {
            Ok(Some(auth)) => Ok(auth),
            Ok(None) => Err(HttpError::not_authenticated()),
            Err(e) => Err(e.clone()),
        }
    }

    /// A guard's check: an authenticated caller (401 otherwise) that `rule` lets pass.
    ///
    /// # Errors
    /// 401, 403, 429 (with `Retry-After`) or 503.
    pub async fn check(&self, rule: &GuardRule) -> Result<(), ErrorResponse> {
        let auth = self.require()?;
        rule.check(&self.api, auth)
            .await
            .map_err(|e| self.reject(e))
    }

    /// `error`, answered in this service's configuration.
    pub fn reject(&self, error: HttpError) -> ErrorResponse {
        ErrorResponse::new(error, self.api.config())
    }

    /// Whether `endpoint` may read this request's body: `false` when the answer is
    /// already decided without it — no or bad credentials on an endpoint that needs a
    /// caller, a named token or an API key on an account endpoint, a caller that may not
    /// introspect — so an integration does not wait for (or buffer) a body only to
    /// refuse the request.
    pub fn reads_body(&self, endpoint: Endpoint) -> bool {
        if matches!(endpoint, Endpoint::Login | Endpoint::TokenRefresh) {
            return true;
        }
        let Ok(Some(auth)) = &self.result else {
            return false;
        };
        let api = &self.api;
        if endpoint.manages_account() && api.authorize_management(auth).is_err() {
            return false;
        }
        endpoint != Endpoint::Introspect
            || api
                .config()
                .introspection_clients
                .contains(&auth.client.name)
    }

    /// Answers `endpoint` (requests and answers: `docs/http-api.md`).
    pub async fn serve(&self, endpoint: Endpoint, request: &EndpointRequest<'_>) -> Response {
        match self.answer(endpoint, request).await {
            Ok(response) => response,
            Err(error) => Response::error(&error, self.api.config()),
        }
    }

    async fn answer(
        &self,
        endpoint: Endpoint,
        request: &EndpointRequest<'_>,
    ) -> Result<Response, HttpError> {
        let api = &*self.api;
        let body = || match request.body {
            RequestBody::Read(body) => Ok(body),
            RequestBody::Unread => Ok(&[][..]),
            RequestBody::TooLarge => Err(HttpError::detail(413, messages::BODY_TOO_LARGE)),
        };
        let header = request.header;
        let content_type = header("content-type");
        let content_type = content_type.as_deref();
        let reply = match endpoint {
            Endpoint::Login => {
                let address = api.client_address(request.peer, header);
                let form = LoginForm::parse(content_type, body()?)?;
                if form.transport.as_deref() == Some("cookie") {
                    // Login CSRF: a cross-site form must not sign the browser in.
                    api.check_cookie_login_origin(header)?;
                }
                api.login(&form, address, header("user-agent").as_deref())
                    .await?
            }
            Endpoint::TokenRefresh => api.token_refresh(content_type, body()?).await?,
            endpoint => {
                let auth = self.authenticated()?;
                if endpoint.manages_account() {
                    api.authorize_management(auth)?;
                }
                let id = request.id.unwrap_or_default();
                match endpoint {
                    Endpoint::Refresh => api.refresh(auth).await?,
                    Endpoint::Logout => api.logout(auth).await?,
                    Endpoint::LogoutAll => api.logout_all(auth).await?,
                    Endpoint::Sessions => api.sessions(auth).await?,
                    Endpoint::DeleteSession => api.delete_session(auth, id).await?,
                    Endpoint::ApiAccess => api.api_access(auth).await?,
                    Endpoint::CreateApiAccess => api.create_api_access(auth).await?,
                    Endpoint::DeleteApiAccess => api.delete_api_access(auth).await?,
                    Endpoint::Tokens => api.tokens(auth).await?,
                    Endpoint::CreateToken => api.create_token(auth, body()?).await?,
                    Endpoint::DeleteToken => api.delete_token(auth, id).await?,
                    Endpoint::Settings => api.settings(auth).await?,
                    Endpoint::PutSettings => api.put_settings(auth, body()?).await?,
                    Endpoint::Introspect => api.introspect(auth, content_type, body()?).await?,
                    Endpoint::ForwardAuth => {
                        api.check_forwarded_cookie(request.peer, header)?;
                        let mut response = Response::from(crate::Reply::no_content());
                        for (name, value) in api.forward_auth(auth).iter() {
                            response = response.with_header(name, value.to_owned());
                        }
                        return Ok(response);
                    }
                    Endpoint::Login | Endpoint::TokenRefresh => unreachable!("answered above"),
                }
            }
        };
        Ok(reply.into())
    }
}

/// Declares an integration's `Guard` type, the same in every integration: a struct
/// holding an `Arc<GuardRule>` in a field `rule`, its constructors `allow_clients`,
/// `deny_clients`, `scopes` and `throttle`, and `From<GuardRule>`. The integration adds
/// its framework's layer or middleware traits.
#[doc(hidden)]
#[macro_export]
macro_rules! guard_type {
    ($(#[$meta:meta])* $vis:vis struct $name:ident;) => {
        $(#[$meta])*
        #[derive(Debug, Clone)]
        $vis struct $name {
            rule: ::std::sync::Arc<$crate::GuardRule>,
        }

        impl $name {
            /// Only these clients (django-rest-durin's `AllowSpecificClients`).
            pub fn allow_clients<I: IntoIterator<Item = S>, S: Into<String>>(clients: I) -> Self {
                Self::from($crate::GuardRule::allow_clients(clients))
            }

            /// Every client but these (`DisallowSpecificClients`).
            pub fn deny_clients<I: IntoIterator<Item = S>, S: Into<String>>(clients: I) -> Self {
                Self::from($crate::GuardRule::deny_clients(clients))
            }

            /// The token must carry every one of these scopes.
            pub fn scopes<I: IntoIterator<Item = S>, S: Into<String>>(scopes: I) -> Self {
                Self::from($crate::GuardRule::scopes(scopes))
            }

            /// The per-(user, client) throttle at the client's rate, else the service's
            /// default (django-rest-durin's `UserClientRateThrottle`): 429 with
            /// `Retry-After`.
            pub fn throttle() -> Self {
                Self::from($crate::GuardRule::Throttle)
            }
        }

        impl ::std::convert::From<$crate::GuardRule> for $name {
            fn from(rule: $crate::GuardRule) -> Self {
                $name {
                    rule: ::std::sync::Arc::new(rule),
                }
            }
        }
    };
}
