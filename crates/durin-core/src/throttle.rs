//! Rate limiting per (user, client), and the in-memory GCRA throttle.

#[cfg(feature = "memory-throttle")]
use std::collections::HashMap;
#[cfg(feature = "memory-throttle")]
use std::sync::Mutex;
#[cfg(feature = "memory-throttle")]
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
#[cfg(feature = "memory-throttle")]
use governor::clock::{Clock as _, DefaultClock};
#[cfg(feature = "memory-throttle")]
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::{Rate, StoreError};

/// The answer of a throttle check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleDecision {
    /// The request is admitted.
    Allowed,
    /// The request is refused; the next one is admitted after `retry_after`.
    Limited {
        /// How long until capacity frees.
        retry_after: Duration,
    },
}

impl ThrottleDecision {
    /// Whether the request is admitted.
    pub fn is_allowed(&self) -> bool {
        matches!(self, ThrottleDecision::Allowed)
    }
}

/// A rate limiter shared by the requests of one key (a (user, client) pair, a login
/// username, an address).
///
/// A rate `N/period` admits a burst of `N` back-to-back requests and then frees one
/// request every `period / N` (GCRA).
#[async_trait]
pub trait Throttle: Send + Sync + 'static {
    /// Counts one request for `key` at `rate` and says whether it is admitted.
    ///
    /// # Errors
    /// [`StoreError`] when a shared backend (Redis) fails; whether to admit then is
    /// the implementation's documented setting.
    async fn check(&self, key: &str, rate: Rate) -> Result<ThrottleDecision, StoreError>;
}

/// How many checks between two sweeps of idle keys.
#[cfg(feature = "memory-throttle")]
const SWEEP_EVERY: u64 = 4096;
/// The most distinct rates kept; past it, the least recently created limiter is dropped.
#[cfg(feature = "memory-throttle")]
const MAX_RATES: usize = 64;

/// An in-process GCRA throttle on `governor`: fit for tests and single-process apps.
///
/// governor takes one quota per limiter, so this keeps one keyed limiter per distinct
/// rate. Memory is bounded: idle keys are swept every 4096 checks (`retain_recent`),
/// and at most 64 distinct rates are kept.
#[cfg(feature = "memory-throttle")]
pub struct MemoryThrottle {
    limiters: Mutex<HashMap<Rate, std::sync::Arc<DefaultKeyedRateLimiter<String>>>>,
    checks: AtomicU64,
}

#[cfg(feature = "memory-throttle")]
impl MemoryThrottle {
    /// An empty throttle.
    pub fn new() -> Self {
        MemoryThrottle {
            limiters: Mutex::new(HashMap::new()),
            checks: AtomicU64::new(0),
        }
    }

    fn limiter(&self, rate: Rate) -> std::sync::Arc<DefaultKeyedRateLimiter<String>> {
        let mut limiters = self.limiters.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(limiter) = limiters.get(&rate) {
            return limiter.clone();
        }
        if limiters.len() >= MAX_RATES {
            // Configuration normally has a handful of rates; a flood of distinct ones is
            // a misuse, and forgetting one limiter only forgives some requests.
            if let Some(victim) = limiters.keys().next().copied() {
                limiters.remove(&victim);
            }
        }
        let period = rate.emission_interval().max(Duration::from_nanos(1));
        let quota = Quota::with_period(period)
            .expect("a positive period")
            .allow_burst(rate.count());
        let limiter = std::sync::Arc::new(RateLimiter::keyed(quota));
        limiters.insert(rate, limiter.clone());
        limiter
    }

    fn sweep(&self) {
        let limiters = self.limiters.lock().unwrap_or_else(|e| e.into_inner());
        for limiter in limiters.values() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    /// How many keys are held across all limiters (for tests of the memory bound).
    pub fn tracked_keys(&self) -> usize {
        let limiters = self.limiters.lock().unwrap_or_else(|e| e.into_inner());
        limiters.values().map(|l| l.len()).sum()
    }
}

#[cfg(feature = "memory-throttle")]
impl Default for MemoryThrottle {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "memory-throttle")]
impl std::fmt::Debug for MemoryThrottle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryThrottle")
            .field("keys", &self.tracked_keys())
            .finish()
    }
}

#[cfg(feature = "memory-throttle")]
#[async_trait]
impl Throttle for MemoryThrottle {
    async fn check(&self, key: &str, rate: Rate) -> Result<ThrottleDecision, StoreError> {
        let limiter = self.limiter(rate);
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.sweep();
        }
        let key = key.to_owned();
        Ok(match limiter.check_key(&key) {
            Ok(()) => ThrottleDecision::Allowed,
            Err(not_until) => ThrottleDecision::Limited {
                retry_after: not_until.wait_time_from(DefaultClock::default().now()),
            },
        })
    }
}

/// Whole seconds to announce in `Retry-After`: rounded up, at least 1.
pub fn retry_after_secs(retry_after: Duration) -> u64 {
    let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_at_least_one_second() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(30)), 30);
    }
}
