//! The login flow: the request form, the application's credential check, and the
//! throttle of repeated failures.

use std::net::IpAddr;

use async_trait::async_trait;
use durin_core::{AuthError, ClientName, LoginOptions, StoreError, Transport, UserId};
use serde_json::{Map, Value, json};

pub use crate::login_guard::{LoginGuard, LoginGuardConfig, Reservation};

use crate::endpoints::iso;
use crate::error::{HttpError, messages};
use crate::reply::Reply;

/// Checks a username and password; the application implements it over its user table.
#[async_trait]
pub trait CredentialChecker: Send + Sync + 'static {
    /// The user these credentials belong to, or `None` when they are wrong. Compare
    /// password hashes with a slow, salted algorithm (argon2) in constant time.
    ///
    /// # Errors
    /// [`StoreError`] when the user store fails (the login answers 503).
    async fn check(&self, username: &str, password: &str) -> Result<Option<UserId>, StoreError>;

    /// The `"user"` object of a successful login response, when the application wants
    /// one (django-rest-durin's `USER_SERIALIZER`). Default: none.
    async fn user_json(&self, _user: &UserId) -> Option<Value> {
        None
    }
}

/// A parsed login request. Its `Debug` shows whether a password was given, never the
/// password.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct LoginForm {
    /// `username`.
    pub username: Option<String>,
    /// `password`.
    pub password: Option<String>,
    /// `client`.
    pub client: Option<String>,
    /// `transport`: `"cookie"` asks for the token in a cookie (when configured).
    pub transport: Option<String>,
}

impl std::fmt::Debug for LoginForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginForm")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .field("client", &self.client)
            .field("transport", &self.transport)
            .finish()
    }
}

impl LoginForm {
    /// Parses a JSON or `application/x-www-form-urlencoded` body (by `content_type`; a
    /// body that is neither is tried as JSON, then as a form).
    ///
    /// # Errors
    /// 400 when the body is neither.
    pub fn parse(content_type: Option<&str>, body: &[u8]) -> Result<Self, HttpError> {
        let is_form =
            content_type.is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
        if !is_form && let Some(form) = Self::from_json(body) {
            return Ok(form);
        }
        if is_form || content_type.is_none() || !body.starts_with(b"{") {
            let form = Self::from_form(body);
            // `curl -d '{...}'` labels JSON as a form: read it as JSON when the form
            // parse finds nothing and the body is a JSON object.
            if form == Self::default()
                && let Some(json) = Self::from_json(body)
            {
                return Ok(json);
            }
            return Ok(form);
        }
        Err(HttpError::detail(400, messages::MALFORMED_BODY))
    }

    fn from_json(body: &[u8]) -> Option<Self> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Some(Self::default());
        }
        let value: Map<String, Value> = serde_json::from_slice(body).ok()?;
        let field = |name: &str| match value.get(name) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(Value::Bool(b)) => Some(b.to_string()),
            _ => None,
        };
        Some(LoginForm {
            username: field("username"),
            password: field("password"),
            client: field("client"),
            transport: field("transport"),
        })
    }

    fn from_form(body: &[u8]) -> Self {
        let mut form = LoginForm::default();
        for (key, value) in form_urlencoded::parse(body) {
            let slot = match key.as_ref() {
                "username" => &mut form.username,
                "password" => &mut form.password,
                "client" => &mut form.client,
                "transport" => &mut form.transport,
                _ => continue,
            };
            *slot = Some(value.into_owned());
        }
        form
    }

    /// Field errors as django-rest-framework reports them: `{"username": ["This field
    /// is required."], "password": ["This field may not be blank."]}`.
    ///
    /// # Errors
    /// 400 with the field errors.
    pub(crate) fn validate(&self) -> Result<(&str, &str), HttpError> {
        let mut errors = Map::new();
        for (name, value) in [("username", &self.username), ("password", &self.password)] {
            match value.as_deref() {
                None => {
                    errors.insert(name.to_owned(), json!([messages::REQUIRED]));
                }
                Some(v) if v.trim().is_empty() => {
                    errors.insert(name.to_owned(), json!([messages::BLANK]));
                }
                // No user id is longer; refused before any work, so an over-long
                // username costs no hashing and no limiter key.
                Some(v) if name == "username" && v.len() > UserId::MAX_LEN => {
                    errors.insert(name.to_owned(), json!([messages::USERNAME_TOO_LONG]));
                }
                Some(_) => {}
            }
        }
        match (&self.username, &self.password) {
            (Some(u), Some(p)) if errors.is_empty() => Ok((u, p)),
            _ => Err(HttpError::bad_request(Value::Object(errors))),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use durin_core::ManualClock;

    #[test]
    fn forms_and_json_parse_alike() {
        let json = LoginForm::parse(
            Some("application/json"),
            br#"{"username":"ann","password":"pw","client":"web"}"#,
        )
        .unwrap();
        let form = LoginForm::parse(
            Some("application/x-www-form-urlencoded"),
            b"username=ann&password=pw&client=web",
        )
        .unwrap();
        assert_eq!(json, form);
        assert_eq!(json.client.as_deref(), Some("web"));
        assert_eq!(
            LoginForm::parse(Some("application/json"), b"{oops")
                .unwrap_err()
                .status,
            400
        );
    }

    #[test]
    fn missing_and_blank_fields_are_reported_per_field() {
        let e = LoginForm::default().validate().unwrap_err();
        assert_eq!(
            e.body,
            json!({"username": [messages::REQUIRED], "password": [messages::REQUIRED]})
        );
        let blank = LoginForm {
            username: Some(" ".into()),
            password: Some("pw".into()),
            ..LoginForm::default()
        };
        assert_eq!(
            blank.validate().unwrap_err().body,
            json!({"username": [messages::BLANK]})
        );
    }

    fn guard(clock: &Arc<ManualClock>) -> LoginGuard {
        LoginGuard::new(LoginGuardConfig::default(), clock.clone())
    }

    async fn fail(guard: &LoginGuard, address: IpAddr, username: &str) -> Result<(), u16> {
        match guard.reserve(Some(address), username).await {
            Ok(reservation) => {
                drop(reservation);
                Ok(())
            }
            Err(e) => Err(e.status),
        }
    }

    #[tokio::test]
    async fn ten_failures_lock_the_pair_and_fifty_the_address() {
        let clock = Arc::new(ManualClock::starting_now());
        let guard = guard(&clock);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..10 {
            fail(&guard, a, "ann").await.unwrap();
        }
        let e = guard.reserve(Some(a), "ann").await.unwrap_err();
        assert_eq!(e.status, 429);
        assert_eq!(e.retry_after, Some(900));
        fail(&guard, b, "ann").await.unwrap();
        fail(&guard, a, "bob").await.unwrap();
        for i in 0..39 {
            fail(&guard, a, &format!("user{i}")).await.unwrap();
        }
        // 10 + 1 + 39 = 50 failures from `a`: the address is full.
        assert_eq!(fail(&guard, a, "carol").await, Err(429));
        fail(&guard, b, "carol").await.unwrap();
        clock.advance(Duration::from_secs(901));
        fail(&guard, a, "ann").await.unwrap();
        fail(&guard, a, "carol").await.unwrap();
    }

    #[tokio::test]
    async fn a_success_does_not_count() {
        let clock = Arc::new(ManualClock::starting_now());
        let guard = guard(&clock);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..30 {
            guard.reserve(Some(a), "ann").await.unwrap().release().await;
        }
        for _ in 0..10 {
            fail(&guard, a, "ann").await.unwrap();
        }
        assert_eq!(fail(&guard, a, "ann").await, Err(429));
    }

    #[tokio::test]
    async fn one_account_is_bounded_across_addresses() {
        let clock = Arc::new(ManualClock::starting_now());
        let guard = LoginGuard::new(
            LoginGuardConfig::default().with_per_account(25),
            clock.clone(),
        );
        for i in 0..25u8 {
            fail(&guard, IpAddr::from([10, 1, 0, i]), "ann")
                .await
                .unwrap();
        }
        assert_eq!(
            fail(&guard, IpAddr::from([10, 2, 0, 1]), "ann").await,
            Err(429)
        );
        fail(&guard, IpAddr::from([10, 2, 0, 1]), "bob")
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn ipv6_peers_are_grouped_by_their_prefix() {
        let clock = Arc::new(ManualClock::starting_now());
        let guard = guard(&clock);
        // Ten addresses of one /64 share the pair limit.
        for i in 0..10u16 {
            let a = IpAddr::from([0x2001, 0xdb8, 0, 1, 0, 0, 0, i + 1]);
            fail(&guard, a, "ann").await.unwrap();
        }
        let same64 = IpAddr::from([0x2001, 0xdb8, 0, 1, 0xffff, 1, 2, 3]);
        assert_eq!(fail(&guard, same64, "ann").await, Err(429));
        let other64 = IpAddr::from([0x2001, 0xdb8, 0, 2, 0, 0, 0, 1]);
        fail(&guard, other64, "ann").await.unwrap();
        // An IPv4-mapped address counts as its IPv4 address.
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        for _ in 0..10 {
            fail(&guard, v4, "bob").await.unwrap();
        }
        assert_eq!(fail(&guard, mapped, "bob").await, Err(429));
        // Prefix 128 counts each address alone.
        let alone = LoginGuard::new(
            LoginGuardConfig::default().with_ipv6_prefix(128),
            clock.clone(),
        );
        for i in 0..10u16 {
            let a = IpAddr::from([0x2001, 0xdb8, 0, 1, 0, 0, 0, i + 1]);
            for _ in 0..9 {
                fail(&alone, a, "ann").await.unwrap();
            }
        }
    }

    #[tokio::test]
    async fn concurrent_guesses_reserve_at_most_the_limit() {
        let clock = Arc::new(ManualClock::starting_now());
        let guard = guard(&clock);
        let a: IpAddr = "10.0.0.9".parse().unwrap();
        let tasks: Vec<_> = (0..40)
            .map(|_| {
                let guard = guard.clone();
                tokio::spawn(async move { fail(&guard, a, "ann").await })
            })
            .collect();
        let mut reserved = 0;
        for task in tasks {
            if task.await.unwrap().is_ok() {
                reserved += 1;
            }
        }
        assert_eq!(reserved, 10);
    }

    #[test]
    fn an_over_long_username_is_a_field_error() {
        let form = LoginForm {
            username: Some("u".repeat(UserId::MAX_LEN + 1)),
            password: Some("pw".into()),
            ..LoginForm::default()
        };
        assert_eq!(
            form.validate().unwrap_err().body,
            json!({"username": [messages::USERNAME_TOO_LONG]})
        );
        let fits = LoginForm {
            username: Some("u".repeat(UserId::MAX_LEN)),
            password: Some("pw".into()),
            ..LoginForm::default()
        };
        assert!(fits.validate().is_ok());
    }
}

/// Why a login failed: wrong credentials (the one 400 that is not a malformed request,
/// counted apart) or any other refusal.
#[derive(Debug)]
pub(crate) enum LoginError {
    /// The username or password is wrong.
    InvalidCredentials,
    /// Every other answer but 200: a malformed form, no or an unknown client, the
    /// failed-login limit, an outage.
    Refused(HttpError),
}

impl LoginError {
    /// The contract's answer.
    pub(crate) fn into_http(self) -> HttpError {
        match self {
            LoginError::InvalidCredentials => {
                HttpError::bad_request(json!({ "non_field_errors": [messages::BAD_CREDENTIALS] }))
            }
            LoginError::Refused(e) => e,
        }
    }
}

impl From<HttpError> for LoginError {
    fn from(e: HttpError) -> Self {
        LoginError::Refused(e)
    }
}

impl From<AuthError> for LoginError {
    fn from(e: AuthError) -> Self {
        LoginError::Refused(e.into())
    }
}

/// The login endpoint: the flow from a form to a session.
impl crate::Api {
    /// `POST login/`. `address` is the peer's address (for the failed-login throttle and
    /// the session context), `user_agent` goes into the session context.
    ///
    /// # Errors
    /// 400 for missing fields, no client, wrong credentials or an unknown client (checked
    /// after the credentials, so client names cannot be probed); 429 after repeated
    /// failures; 503.
    pub async fn login(
        &self,
        form: &LoginForm,
        address: Option<IpAddr>,
        user_agent: Option<&str>,
    ) -> Result<Reply, HttpError> {
        let reply = self.login_flow(form, address, user_agent).await;
        self.metrics.record_login(reply.as_ref().map(drop));
        reply.map_err(LoginError::into_http)
    }

    /// [`Api::login`], saying how it failed (for the metrics).
    async fn login_flow(
        &self,
        form: &LoginForm,
        address: Option<IpAddr>,
        user_agent: Option<&str>,
    ) -> Result<Reply, LoginError> {
        let (username, password) = form.validate()?;
        let client = form.client.as_deref().map(str::trim).unwrap_or_default();
        if client.is_empty() {
            return Err(HttpError::detail(400, messages::NO_CLIENT).into());
        }
        // Reserved before the (slow) password check, so concurrent guesses check at
        // most the limit; released only when the credentials are right.
        let attempt = self.guard.reserve(address, username).await?;
        let user = match self.checker.check(username, password).await {
            Ok(Some(user)) => {
                attempt.release().await;
                user
            }
            Ok(None) => {
                drop(attempt);
                return Err(LoginError::InvalidCredentials);
            }
            Err(e) => {
                attempt.release().await;
                return Err(HttpError::from(AuthError::Unavailable(e)).into());
            }
        };
        let client = ClientName::new(client)
            .ok()
            .filter(|client| !self.is_special_client(client))
            .ok_or_else(|| LoginError::from(HttpError::detail(400, messages::UNKNOWN_CLIENT)))?;
        let cookie = self
            .config
            .cookie
            .as_ref()
            .filter(|_| form.transport.as_deref() == Some("cookie"));
        let mut context = Map::new();
        if let Some(address) = address {
            context.insert("ip".to_owned(), Value::String(address.to_string()));
        }
        if let Some(agent) = user_agent {
            context.insert("user_agent".to_owned(), Value::String(agent.to_owned()));
        }
        let options = LoginOptions {
            context,
            transport: if cookie.is_some() {
                Transport::Cookie
            } else {
                Transport::Header
            },
            ..LoginOptions::default()
        };
        let login = self.durin.login(&user, &client, options).await?;
        let mut body = Map::new();
        let mut tokens = Vec::with_capacity(2);
        let expiry = login.session.expires_at;
        let mut set_cookie = None;
        match cookie {
            Some(cookie) => {
                let max_age =
                    expiry.map(|at| at.duration_since(self.durin.clock().now()).as_secs());
                set_cookie = Some(
                    cookie
                        .set_cookie(login.token.expose_secret(), max_age)
                        .into(),
                );
            }
            None => tokens.push(("token", login.token)),
        }
        body.insert("expiry".to_owned(), iso(expiry));
        if let Some(refresh) = login.refresh_token {
            tokens.push(("refresh_token", refresh));
        }
        if let Some(user_json) = self.checker.user_json(&user).await {
            body.insert("user".to_owned(), user_json);
        }
        Ok(Reply {
            set_cookie,
            ..Reply::issued(200, body, tokens)
        })
    }
}
