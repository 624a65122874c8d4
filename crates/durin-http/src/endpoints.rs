//! The endpoints of the contract, as plain async functions: each integration parses the
//! request into these arguments and writes the [`Reply`] (or [`HttpError`]) back.

use std::net::IpAddr;
use std::sync::Arc;

use durin_core::{
    AttemptLimiter, AuthError, Authenticated, ClientName, Durin, LoginOptions,
    MemoryAttemptLimiter, Session, SessionId, Timestamp, TokenString, Transport,
};
use serde_json::{Map, Value, json};

use crate::credentials::{self, HttpConfig, RequestInfo};
use crate::error::{HttpError, messages};
use crate::humanize::natural_delta;
use crate::login::{CredentialChecker, LoginGuard, LoginGuardConfig};
use crate::reply::Reply;

/// The contract's endpoints over one [`Durin`] service. Cheap to clone.
#[derive(Clone)]
pub struct Api {
    pub(crate) durin: Durin,
    pub(crate) config: Arc<HttpConfig>,
    pub(crate) checker: Arc<dyn CredentialChecker>,
    pub(crate) guard: LoginGuard,
    limiter: Arc<dyn AttemptLimiter>,
    pub(crate) metrics: Arc<crate::metrics::HttpMetrics>,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Api {
    /// The endpoints of `durin`, checking logins with `checker`.
    pub fn new(durin: Durin, config: HttpConfig, checker: Arc<dyn CredentialChecker>) -> Self {
        let limiter: Arc<dyn AttemptLimiter> = Arc::new(MemoryAttemptLimiter::new());
        let guard = LoginGuard::with_limiter(
            LoginGuardConfig::default(),
            durin.clock().clone(),
            limiter.clone(),
        );
        Api {
            durin,
            config: Arc::new(config),
            checker,
            guard,
            limiter,
            metrics: Arc::new(crate::metrics::HttpMetrics::new()),
        }
    }

    /// Replaces the failed-login throttle's limits (keeping where it counts).
    pub fn with_login_guard(mut self, config: LoginGuardConfig) -> Self {
        self.guard =
            LoginGuard::with_limiter(config, self.durin.clock().clone(), self.limiter.clone());
        self
    }

    /// Counts failed logins in `limiter` (a store's limiter makes the failed-login limit
    /// hold across every node on that store) instead of process memory.
    pub fn with_attempt_limiter(mut self, limiter: Arc<dyn AttemptLimiter>) -> Self {
        self.limiter = limiter.clone();
        self.guard =
            LoginGuard::with_limiter(*self.guard.config(), self.durin.clock().clone(), limiter);
        self
    }

    /// The failed-login throttle.
    pub fn login_guard(&self) -> &LoginGuard {
        &self.guard
    }

    /// The address a request comes from, for the failed-login limit and the session
    /// context: the peer's address, unless the peer is one of
    /// [`HttpConfig::trusted_proxies`]; then the right-most address of the header they
    /// write ([`HttpConfig::forwarded_header`]: `X-Forwarded-For` by default, or
    /// `Forwarded`'s `for=`; never the other one) that is not a trusted proxy. Headers are never read from an untrusted peer, so a client cannot choose
    /// its own address.
    pub fn client_address(
        &self,
        peer: Option<IpAddr>,
        header: &dyn Fn(&str) -> Option<String>,
    ) -> Option<IpAddr> {
        crate::proxy::client_address(
            &self.config.trusted_proxies,
            self.config.forwarded_header,
            peer,
            header,
        )
    }

    /// The service.
    pub fn durin(&self) -> &Durin {
        &self.durin
    }

    /// The HTTP settings.
    pub fn config(&self) -> &HttpConfig {
        &self.config
    }

    /// Authenticates a request (see [`credentials::authenticate`]).
    ///
    /// # Errors
    /// The contract's 401/403/503 answers.
    pub async fn authenticate(
        &self,
        info: &RequestInfo<'_>,
    ) -> Result<Option<Authenticated>, HttpError> {
        // The service counts what it checks; a token refused before it was asked (a
        // malformed header or token, a failed CSRF check) is classified and counted here,
        // once, where it is refused.
        let credentials = match credentials::Credentials::from_request(&self.config, info) {
            Ok(credentials) => credentials,
            Err(e) => {
                self.metrics.record_refused_credentials(&e);
                return Err(e);
            }
        };
        credentials.authenticate(&self.durin).await
    }

    /// Whether `client` is one of the special clients a password login may not use: the
    /// API-access client, the tokens client and the introspection clients. Their tokens
    /// are issued by `apiaccess/`, `tokens/` or the CLI only; a password login through
    /// them answers as for an unknown client.
    pub fn is_special_client(&self, client: &ClientName) -> bool {
        Some(client) == self.durin.api_access_client()
            || Some(client) == self.durin.tokens_client()
            || self.config.introspection_clients.contains(client)
    }

    /// Least privilege on the account routes: [`Durin::authorize_management`] (no named
    /// token or API key), and no key of an introspection client either (a gateway's key,
    /// however it was issued, manages no account).
    ///
    /// # Errors
    /// 403 `You do not have permission to perform this action.`
    pub fn authorize_management(&self, auth: &Authenticated) -> Result<(), HttpError> {
        if self
            .config
            .introspection_clients
            .contains(&auth.client.name)
        {
            return Err(HttpError::forbidden());
        }
        Ok(self.durin.authorize_management(auth)?)
    }

    /// `POST refresh/`: moves the expiry to now + the client's TTL (capped by its maximum
    /// lifetime); the token stays the same.
    ///
    /// # Errors
    /// 403 when the client refuses renewal; 401 when the session ended meanwhile; 503.
    pub async fn refresh(&self, auth: &Authenticated) -> Result<Reply, HttpError> {
        let session = self.durin.renew(auth).await?;
        Ok(Reply::json(
            200,
            json!({ "expiry": iso(session.expires_at) }),
        ))
    }

    /// `POST token/refresh/` with `{"refresh_token": ...}` (JSON or form).
    ///
    /// # Errors
    /// 400 when the field is missing; 401 `Invalid token.` for an unknown, expired,
    /// rotated or malformed refresh token (a rotated one also revokes its session); 503.
    pub async fn token_refresh(
        &self,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Reply, HttpError> {
        let value = refresh_field(content_type, body).ok_or_else(|| {
            HttpError::bad_request(json!({ "refresh_token": [messages::REQUIRED] }))
        })?;
        let token = TokenString::parse(&value).map_err(|e| HttpError::from(AuthError::from(e)))?;
        let login = self.durin.refresh(&token).await?;
        let mut fields = Map::new();
        fields.insert("expiry".to_owned(), iso(login.session.expires_at));
        let mut tokens = vec![("token", login.token)];
        match login.refresh_token {
            Some(refresh) => tokens.push(("refresh_token", refresh)),
            None => {
                fields.insert("refresh_token".to_owned(), Value::Null);
            }
        }
        Ok(Reply::issued(200, fields, tokens))
    }

    /// `POST logout/`: this token stops working at once.
    ///
    /// # Errors
    /// 503.
    pub async fn logout(&self, auth: &Authenticated) -> Result<Reply, HttpError> {
        self.durin.logout(auth).await?;
        Ok(self.clearing_cookie(auth, Reply::no_content()))
    }

    /// `POST logoutall/`: every token of the user stops working, all clients.
    ///
    /// # Errors
    /// 503.
    pub async fn logout_all(&self, auth: &Authenticated) -> Result<Reply, HttpError> {
        self.durin.logout_all(auth.user_id()).await?;
        Ok(self.clearing_cookie(auth, Reply::no_content()))
    }

    fn clearing_cookie(&self, auth: &Authenticated, reply: Reply) -> Reply {
        match (&self.config.cookie, auth.session.transport) {
            (Some(cookie), Transport::Cookie) => Reply {
                set_cookie: Some(cookie.clear_cookie().into()),
                ..reply
            },
            _ => reply,
        }
    }

    /// `GET sessions/`: the caller's sessions, oldest first, never a token or digest.
    ///
    /// # Errors
    /// 503.
    pub async fn sessions(&self, auth: &Authenticated) -> Result<Reply, HttpError> {
        let now = self.durin.clock().now();
        let hidden = self
            .config
            .hide_api_access_sessions
            .then(|| self.durin.api_access_client())
            .flatten();
        let list: Vec<Value> = self
            .durin
            .sessions(auth.user_id())
            .await?
            .iter()
            // `Durin::sessions` leaves revoked sessions out already.
            .filter(|s| Some(&s.client) != hidden)
            .map(|s| {
                let mut v = session_json(s, now);
                v["id"] = json!(s.id.as_str());
                v["is_current"] = json!(s.id == auth.session.id);
                v["last_used"] = iso(s.last_used_at);
                v["context"] = Value::Object(s.context.clone());
                v
            })
            .collect();
        Ok(Reply::json(200, Value::Array(list)))
    }

    /// `DELETE sessions/{id}`.
    ///
    /// # Errors
    /// 400 for the current session; 404 for an unknown or another user's id; 503.
    pub async fn delete_session(&self, auth: &Authenticated, id: &str) -> Result<Reply, HttpError> {
        let id = SessionId::new(id).map_err(|_| HttpError::not_found())?;
        self.durin
            .revoke_session(auth.user_id(), &id, Some(&auth.session.id))
            .await?;
        Ok(Reply::no_content())
    }

    /// `GET apiaccess/`.
    ///
    /// # Errors
    /// 404 without an API key or API-access client; 503.
    pub async fn api_access(&self, auth: &Authenticated) -> Result<Reply, HttpError> {
        let key = self.durin.api_key(auth.user_id()).await?;
        Ok(Reply::json(
            200,
            session_json(&key, self.durin.clock().now()),
        ))
    }

    /// `POST apiaccess/`: 201 with the token, shown this once.
    ///
    /// # Errors
    /// 400 when the user holds a live key; 404 without an API-access client; 503.
    pub async fn create_api_access(&self, auth: &Authenticated) -> Result<Reply, HttpError> {
        let login = self
            .durin
            .create_api_key(auth.user_id(), LoginOptions::default())
            .await?;
        let body = session_json(&login.session, self.durin.clock().now());
        Ok(Reply::issued(
            201,
            into_object(body),
            vec![("token", login.token)],
        ))
    }

    /// `DELETE apiaccess/`.
    ///
    /// # Errors
    /// 404 without a key or API-access client; 503.
    pub async fn delete_api_access(&self, auth: &Authenticated) -> Result<Reply, HttpError> {
        self.durin.delete_api_key(auth.user_id()).await?;
        Ok(Reply::no_content())
    }

    /// The per-(user, client) throttle of a route, at the client's rate or the default.
    ///
    /// # Errors
    /// 429 with `Retry-After`; 503.
    pub async fn throttle(&self, auth: &Authenticated) -> Result<(), HttpError> {
        Ok(self.durin.throttle(auth).await?)
    }
}

/// `{"client", "created", "expiry", "has_expired", "expires_in_str"}`.
fn session_json(s: &Session, now: Timestamp) -> Value {
    json!({
        "client": s.client.as_str(),
        "created": s.created_at.to_iso8601(),
        "expiry": iso(s.expires_at),
        "has_expired": s.is_expired(now),
        "expires_in_str": s.expires_at.map_or_else(
            || "never".to_owned(),
            |at| natural_delta(at.duration_since(now)),
        ),
    })
}

/// The fields of a JSON object (`json!({..})` always makes one).
pub(crate) fn into_object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(fields) => fields,
        _ => Map::new(),
    }
}

pub(crate) fn iso(at: Option<Timestamp>) -> Value {
    at.map_or(Value::Null, |t| Value::String(t.to_iso8601()))
}

fn refresh_field(content_type: Option<&str>, body: &[u8]) -> Option<String> {
    let is_form =
        content_type.is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if is_form {
        return form_urlencoded::parse(body)
            .find(|(k, _)| k == "refresh_token")
            .map(|(_, v)| v.into_owned());
    }
    let value: Map<String, Value> = serde_json::from_slice(body).ok()?;
    match value.get("refresh_token") {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    }
}

/// The rule of a route guard, shared by the integrations' guard layers: allowed clients,
/// denied clients, required scopes, or the per-(user, client) throttle.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GuardRule {
    /// Only these clients (django-rest-durin's `AllowSpecificClients`).
    AllowClients(std::collections::HashSet<String>),
    /// Every client but these (`DisallowSpecificClients`).
    DenyClients(std::collections::HashSet<String>),
    /// The token must carry every one of these scopes.
    Scopes(Vec<String>),
    /// The per-(user, client) throttle at the client's rate, else the service default
    /// (`UserClientRateThrottle`).
    Throttle,
}

impl GuardRule {
    /// Only these clients.
    pub fn allow_clients<I: IntoIterator<Item = S>, S: Into<String>>(clients: I) -> Self {
        GuardRule::AllowClients(clients.into_iter().map(Into::into).collect())
    }

    /// Every client but these.
    pub fn deny_clients<I: IntoIterator<Item = S>, S: Into<String>>(clients: I) -> Self {
        GuardRule::DenyClients(clients.into_iter().map(Into::into).collect())
    }

    /// Every one of these scopes.
    pub fn scopes<I: IntoIterator<Item = S>, S: Into<String>>(scopes: I) -> Self {
        GuardRule::Scopes(scopes.into_iter().map(Into::into).collect())
    }

    /// Whether `auth` may pass.
    ///
    /// # Errors
    /// 403 for a client or scope the rule refuses; 429 (with `Retry-After`) when throttled;
    /// 503 when the throttle's store is down.
    pub async fn check(&self, api: &Api, auth: &Authenticated) -> Result<(), HttpError> {
        let client = auth.client.name.as_str();
        let metrics = &api.metrics;
        match self {
            GuardRule::AllowClients(allowed) if !allowed.contains(client) => {
                metrics.guard_client.increment(1);
                Err(HttpError::forbidden())
            }
            GuardRule::DenyClients(denied) if denied.contains(client) => {
                metrics.guard_client.increment(1);
                Err(HttpError::forbidden())
            }
            GuardRule::Scopes(scopes) if !scopes.iter().all(|s| auth.has_scope(s)) => {
                metrics.guard_scope.increment(1);
                Err(HttpError::forbidden())
            }
            GuardRule::Throttle => {
                let checked = api.throttle(auth).await;
                match &checked {
                    Err(e) if e.status == 429 => metrics.guard_throttled.increment(1),
                    Err(_) => metrics.guard_unavailable.increment(1),
                    Ok(()) => {}
                }
                checked
            }
            _ => Ok(()),
        }
    }
}
