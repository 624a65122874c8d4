//! The login flow: the request form, the application's credential check, and the
//! throttle of repeated failures.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use durin_core::{Clock, StoreError, Timestamp, UserId};
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
    /// Failures one address may make for one username within the window. Default 10.
    pub per_username: usize,
    /// Failures one address may make in all within the window. Default 50.
    pub per_address: usize,
    /// The sliding window. Default 15 minutes.
    pub window: Duration,
}

impl Default for LoginGuardConfig {
    fn default() -> Self {
        LoginGuardConfig {
            per_username: 10,
            per_address: 50,
            window: Duration::from_secs(15 * 60),
        }
    }
}

/// Throttles repeated login failures: once an address has failed `per_username` times
/// for one username, or `per_address` times in all, within the window, every attempt
/// from that scope (the right password included) answers 429 until the oldest failure
/// leaves the window. Other addresses are unaffected.
///
/// Counts live in this process; behind several processes each keeps its own.
#[derive(Clone)]
pub struct LoginGuard {
    config: LoginGuardConfig,
    clock: Arc<dyn Clock>,
    failures: Arc<Mutex<HashMap<String, VecDeque<Timestamp>>>>,
}

impl std::fmt::Debug for LoginGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginGuard")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Above this many tracked keys, a failure also sweeps out keys with no recent failure.
const SWEEP_ABOVE: usize = 10_000;

impl LoginGuard {
    /// A guard with `config`, reading time from `clock`.
    pub fn new(config: LoginGuardConfig, clock: Arc<dyn Clock>) -> Self {
        LoginGuard {
            config,
            clock,
            failures: Arc::default(),
        }
    }

    fn keys(address: Option<IpAddr>, username: &str) -> (String, String) {
        let address = address.map_or_else(|| "-".to_owned(), |a| a.to_string());
        (format!("{address}\u{0}{username}"), address)
    }

    /// Refuses the attempt when its scope is over a limit.
    ///
    /// # Errors
    /// 429 with `Retry-After`.
    pub fn check(&self, address: Option<IpAddr>, username: &str) -> Result<(), HttpError> {
        let (pair, address) = Self::keys(address, username);
        let now = self.clock.now();
        let cutoff = now.saturating_sub(self.config.window);
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let mut wait = Duration::ZERO;
        for (key, limit) in [
            (pair, self.config.per_username),
            (address, self.config.per_address),
        ] {
            if let Some(times) = failures.get_mut(&key) {
                while times.front().is_some_and(|t| *t <= cutoff) {
                    times.pop_front();
                }
                if times.len() >= limit {
                    // Free again when enough failures have left the window.
                    let freeing = times[times.len() - limit];
                    let at = freeing.saturating_add(self.config.window);
                    wait = wait.max(at.duration_since(now));
                }
            }
        }
        if wait.is_zero() {
            Ok(())
        } else {
            Err(HttpError::throttled(wait))
        }
    }

    /// Records a failed attempt.
    pub fn failed(&self, address: Option<IpAddr>, username: &str) {
        let (pair, address) = Self::keys(address, username);
        let now = self.clock.now();
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() > SWEEP_ABOVE {
            let cutoff = now.saturating_sub(self.config.window);
            failures.retain(|_, times| times.back().is_some_and(|t| *t > cutoff));
        }
        for (key, limit) in [
            (pair, self.config.per_username),
            (address, self.config.per_address),
        ] {
            let times = failures.entry(key).or_default();
            times.push_back(now);
            while times.len() > limit {
                times.pop_front();
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

    #[test]
    fn ten_failures_lock_the_pair_and_fifty_the_address() {
        let clock = Arc::new(ManualClock::starting_now());
        let guard = LoginGuard::new(LoginGuardConfig::default(), clock.clone());
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..10 {
            guard.check(Some(a), "ann").unwrap();
            guard.failed(Some(a), "ann");
        }
        let e = guard.check(Some(a), "ann").unwrap_err();
        assert_eq!(e.status, 429);
        assert_eq!(e.retry_after, Some(900));
        guard.check(Some(b), "ann").unwrap();
        guard.check(Some(a), "bob").unwrap();
        for i in 0..40 {
            guard.failed(Some(a), &format!("user{i}"));
        }
        assert!(guard.check(Some(a), "carol").is_err());
        guard.check(Some(b), "carol").unwrap();
        clock.advance(Duration::from_secs(901));
        guard.check(Some(a), "ann").unwrap();
        guard.check(Some(a), "carol").unwrap();
    }
}
