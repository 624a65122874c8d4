//! The login flow: the request form, the application's credential check, and the
//! throttle of repeated failures.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use durin_core::{
    AttemptDecision, AttemptId, AttemptKey, AttemptLimiter, AuthError, Clock, MemoryAttemptLimiter,
    StoreError, UserId,
};
use serde_json::{Map, Value, json};

use crate::error::{HttpError, messages};

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

/// Limits of the failed-login throttle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoginGuardConfig {
    /// Failed attempts one address may make for one username within the window.
    /// Default 10.
    pub per_username: u32,
    /// Failed attempts one address may make in all within the window. Default 50.
    pub per_address: u32,
    /// Failed attempts at one username from all addresses together within the window,
    /// so a guess spread over many addresses is bounded too. Default 100 (generous: a
    /// real user is not locked out by a few mistyped passwords, an attacker gets at most
    /// this many tries per window).
    pub per_account: u32,
    /// The sliding window. Default 15 minutes.
    pub window: Duration,
    /// IPv6 peers are grouped by this prefix length (an IPv6 client usually owns a
    /// whole /64). Default 64; 128 counts each address alone.
    pub ipv6_prefix: u8,
}

impl Default for LoginGuardConfig {
    fn default() -> Self {
        LoginGuardConfig {
            per_username: 10,
            per_address: 50,
            per_account: 100,
            window: Duration::from_secs(15 * 60),
            ipv6_prefix: 64,
        }
    }
}

impl LoginGuardConfig {
    /// Sets the per-(address, username) limit.
    pub fn with_per_username(mut self, limit: u32) -> Self {
        self.per_username = limit;
        self
    }

    /// Sets the per-address limit.
    pub fn with_per_address(mut self, limit: u32) -> Self {
        self.per_address = limit;
        self
    }

    /// Sets the per-username limit across all addresses.
    pub fn with_per_account(mut self, limit: u32) -> Self {
        self.per_account = limit;
        self
    }

    /// Sets the window.
    pub fn with_window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Sets the IPv6 grouping prefix (clamped to 0..=128).
    pub fn with_ipv6_prefix(mut self, prefix: u8) -> Self {
        self.ipv6_prefix = prefix.min(128);
        self
    }
}

/// Throttles repeated login failures. Each attempt is *reserved* before the password is
/// checked, under three scopes: (address, username), address, and username across all
/// addresses. When a scope already holds its limit of attempts within the window, the
/// attempt (the right password included) answers 429 with `Retry-After` and no password
/// is checked, so N concurrent guesses check at most the limit. A successful attempt is
/// released (it does not count); a failed one stays until it leaves the window.
///
/// The counts live in an [`AttemptLimiter`]: in process memory by default
/// ([`MemoryAttemptLimiter`]), or in the store (PostgreSQL, SQLite, Redis) so the limits
/// hold across every node. Scopes are kept as fixed-size hashes, so a long username
/// costs no memory; usernames longer than [`UserId::MAX_LEN`] are refused before any
/// work. IPv6 peers are grouped by [`LoginGuardConfig::ipv6_prefix`].
#[derive(Clone)]
pub struct LoginGuard {
    config: LoginGuardConfig,
    clock: Arc<dyn Clock>,
    limiter: Arc<dyn AttemptLimiter>,
    /// `durin_login_guard_refusals_total`, registered once.
    refusals: metrics::Counter,
}

impl std::fmt::Debug for LoginGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginGuard")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// An attempt reserved by [`LoginGuard::reserve`]: call [`Reservation::release`] when
/// the credentials were right (or could not be checked); dropping it leaves the attempt
/// counted as a failure.
#[must_use = "a reservation is a counted failure unless `release` is called"]
pub struct Reservation {
    keys: [AttemptKey; 3],
    id: AttemptId,
    limiter: Arc<dyn AttemptLimiter>,
}

impl std::fmt::Debug for Reservation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reservation")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Reservation {
    /// The attempt does not count (it succeeded, or the credentials could not be
    /// checked). A backend failure here is logged and ignored (the attempt then counts
    /// as a failure until it leaves the window).
    pub async fn release(self) {
        if let Err(e) = self.limiter.release(&self.keys, self.id).await {
            tracing::warn!(error = %e, "could not release a successful login attempt");
        }
    }
}

impl LoginGuard {
    /// A guard with `config`, reading time from `clock`, counting in process memory.
    pub fn new(config: LoginGuardConfig, clock: Arc<dyn Clock>) -> Self {
        Self::with_limiter(config, clock, Arc::new(MemoryAttemptLimiter::new()))
    }

    /// A guard with `config`, reading time from `clock`, counting in `limiter` (a store's
    /// limiter makes the limits hold across every node on that store).
    pub fn with_limiter(
        config: LoginGuardConfig,
        clock: Arc<dyn Clock>,
        limiter: Arc<dyn AttemptLimiter>,
    ) -> Self {
        LoginGuard {
            config,
            clock,
            limiter,
            refusals: metrics::counter!("durin_login_guard_refusals_total"),
        }
    }

    /// The limits.
    pub fn config(&self) -> &LoginGuardConfig {
        &self.config
    }

    /// The peer's group: the address itself for IPv4 (and IPv4-mapped IPv6), the
    /// configured prefix for IPv6.
    fn group(&self, address: Option<IpAddr>) -> Vec<u8> {
        match address.map(|a| a.to_canonical()) {
            None => b"-".to_vec(),
            Some(IpAddr::V4(v4)) => v4.octets().to_vec(),
            Some(IpAddr::V6(v6)) => {
                let prefix = u32::from(self.config.ipv6_prefix.min(128));
                let bits = u128::from(v6);
                let masked = if prefix == 0 {
                    0
                } else {
                    bits & (u128::MAX << (128 - prefix))
                };
                let mut group = masked.to_be_bytes().to_vec();
                group.push(self.config.ipv6_prefix);
                group
            }
        }
    }

    fn keys(&self, address: Option<IpAddr>, username: &str) -> [AttemptKey; 3] {
        let group = self.group(address);
        let c = &self.config;
        [
            AttemptKey::new(
                &[b"login:pair", &group, username.as_bytes()],
                c.per_username,
            ),
            AttemptKey::new(&[b"login:address", &group], c.per_address),
            AttemptKey::new(&[b"login:account", username.as_bytes()], c.per_account),
        ]
    }

    /// Reserves one attempt for `username` from `address`, before its password is
    /// checked.
    ///
    /// # Errors
    /// 429 with `Retry-After` when a scope is at its limit (nothing is recorded then);
    /// 503 when the limiter's backend fails.
    pub async fn reserve(
        &self,
        address: Option<IpAddr>,
        username: &str,
    ) -> Result<Reservation, HttpError> {
        let keys = self.keys(address, username);
        let id = AttemptId::generate();
        let decision = self
            .limiter
            .reserve(&keys, id, self.config.window, self.clock.now())
            .await
            .map_err(|e| HttpError::from(AuthError::Unavailable(e)))?;
        match decision {
            AttemptDecision::Reserved => Ok(Reservation {
                keys,
                id,
                limiter: self.limiter.clone(),
            }),
            AttemptDecision::Refused { retry_after } => {
                self.refusals.increment(1);
                tracing::info!("login refused: too many failed attempts");
                Err(HttpError::throttled(retry_after))
            }
        }
    }
}

#[cfg(test)]
mod tests {
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
