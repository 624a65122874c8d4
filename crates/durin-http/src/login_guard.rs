//! The failed-login limit: a sliding window of failed attempts per address and
//! username, per address, and per account, counted in an [`AttemptLimiter`] (a store's,
//! so the limit holds across nodes) and reserved before the password check.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use durin_core::{
    AttemptDecision, AttemptId, AttemptKey, AttemptLimiter, AuthError, Clock, MemoryAttemptLimiter,
};

use crate::error::HttpError;

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
/// costs no memory; usernames longer than [`UserId::MAX_LEN`](durin_core::UserId::MAX_LEN) are refused before any
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
