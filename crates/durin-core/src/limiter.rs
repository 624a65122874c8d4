//! Sliding-window attempt limits (the failed-login limit), kept in a backend so that a
//! limit holds across every node.
//!
//! An attempt is *reserved* before the expensive check it guards (a password hash), so
//! that N concurrent guesses check at most the limit; a successful attempt is *released*
//! (it does not count), a failed one stays recorded until it leaves the window.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use crate::{StoreError, Timestamp};

/// One scope an attempt counts against (an address and a username, an address, a
/// username), with its limit. The scope is kept as a fixed-size hash, so a long username
/// costs no memory and no scope text reaches the backend.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AttemptKey {
    hash: [u8; 16],
    limit: u32,
}

impl AttemptKey {
    /// The key of a scope made of `parts` (each part length-prefixed before hashing, so
    /// `("ab", "c")` and `("a", "bc")` differ), admitting `limit` attempts per window.
    pub fn new(parts: &[&[u8]], limit: u32) -> Self {
        let mut hasher = Sha256::new();
        for part in parts {
            hasher.update((part.len() as u64).to_be_bytes());
            hasher.update(part);
        }
        let digest = hasher.finalize();
        let mut hash = [0u8; 16];
        hash.copy_from_slice(&digest[..16]);
        AttemptKey { hash, limit }
    }

    /// A key from its stored hash (backends reading it back).
    pub const fn from_hash(hash: [u8; 16], limit: u32) -> Self {
        AttemptKey { hash, limit }
    }

    /// The 16-byte hash of the scope.
    pub const fn hash(&self) -> &[u8; 16] {
        &self.hash
    }

    /// The hash as 32 lowercase hex characters (Redis keys).
    pub fn to_hex(&self) -> String {
        self.hash.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// How many attempts the window admits.
    pub const fn limit(&self) -> u32 {
        self.limit
    }
}

impl std::fmt::Debug for AttemptKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "AttemptKey({}…, limit {})",
            &self.to_hex()[..8],
            self.limit
        )
    }
}

/// The id of one reserved attempt (random), to release it later.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AttemptId([u8; 16]);

impl AttemptId {
    /// A new random id.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).expect("the OS random source works");
        AttemptId(bytes)
    }

    /// An id from its bytes.
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        AttemptId(bytes)
    }

    /// The bytes.
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// 32 lowercase hex characters.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl std::fmt::Debug for AttemptId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AttemptId({})", self.to_hex())
    }
}

/// The answer of [`AttemptLimiter::reserve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptDecision {
    /// The attempt is recorded under every key; go on with the check.
    Reserved,
    /// A key is at its limit: nothing was recorded. The first full key frees after
    /// `retry_after`.
    Refused {
        /// How long until the oldest attempt of the first full key leaves the window.
        retry_after: Duration,
    },
}

/// Sliding-window attempt limits in a backend.
///
/// A store that passes `durin_core::attempt_limiter_tests!` (feature `testing`) keeps the
/// limits exact under concurrency and across processes.
#[async_trait]
pub trait AttemptLimiter: Send + Sync + 'static {
    /// In one atomic step: forgets the attempts of `keys` made at or before
    /// `now - window`; then, if every key holds fewer attempts than its limit, records
    /// attempt `id` at `now` under every key, else records nothing and refuses with the
    /// time until the oldest attempt of the first full key leaves the window.
    ///
    /// # Errors
    /// [`StoreError`] when the backend fails (nothing is recorded then).
    async fn reserve(
        &self,
        keys: &[AttemptKey],
        id: AttemptId,
        window: Duration,
        now: Timestamp,
    ) -> Result<AttemptDecision, StoreError>;

    /// Forgets attempt `id` under `keys` (it succeeded, so it does not count).
    ///
    /// # Errors
    /// [`StoreError`] when the backend fails.
    async fn release(&self, keys: &[AttemptKey], id: AttemptId) -> Result<(), StoreError>;

    /// Deletes every attempt made before `before` (housekeeping; backends with native
    /// expiry may do nothing). Returns how many it deleted.
    ///
    /// # Errors
    /// [`StoreError`] when the backend fails.
    async fn purge_attempts(&self, before: Timestamp) -> Result<u64, StoreError>;
}

/// The time until the oldest of `attempts` leaves the window: at least 1 ms.
pub fn retry_after(oldest: Timestamp, window: Duration, now: Timestamp) -> Duration {
    oldest
        .saturating_add(window)
        .duration_since(now)
        .max(Duration::from_millis(1))
}

/// The attempts recorded under one key, oldest first.
type Attempts = VecDeque<(Timestamp, AttemptId)>;

/// Attempt limits in process memory: fit for one process (tests, single-node apps).
///
/// Memory is bounded: each key holds at most its limit of attempts (refused attempts are
/// not recorded), and at most `max_keys` keys are kept (default 100,000); past it, keys
/// whose attempts all left the window are swept, then the oldest keys dropped.
#[derive(Debug)]
pub struct MemoryAttemptLimiter {
    attempts: Mutex<HashMap<[u8; 16], Attempts>>,
    max_keys: usize,
}

impl Default for MemoryAttemptLimiter {
    fn default() -> Self {
        Self::with_max_keys(100_000)
    }
}

impl MemoryAttemptLimiter {
    /// An empty limiter keeping at most 100,000 keys.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty limiter keeping at most `max_keys` keys.
    pub fn with_max_keys(max_keys: usize) -> Self {
        MemoryAttemptLimiter {
            attempts: Mutex::new(HashMap::new()),
            max_keys: max_keys.max(1),
        }
    }

    /// How many keys are held.
    pub fn len(&self) -> usize {
        self.attempts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl AttemptLimiter for MemoryAttemptLimiter {
    async fn reserve(
        &self,
        keys: &[AttemptKey],
        id: AttemptId,
        window: Duration,
        now: Timestamp,
    ) -> Result<AttemptDecision, StoreError> {
        let cutoff = now.saturating_sub(window);
        let mut attempts = self.attempts.lock().unwrap_or_else(|e| e.into_inner());
        for key in keys {
            if let Some(times) = attempts.get_mut(&key.hash) {
                while times.front().is_some_and(|(at, _)| *at <= cutoff) {
                    times.pop_front();
                }
                if times.len() >= key.limit as usize {
                    let oldest = times.front().map_or(now, |(at, _)| *at);
                    return Ok(AttemptDecision::Refused {
                        retry_after: retry_after(oldest, window, now),
                    });
                }
            }
        }
        if attempts.len() + keys.len() > self.max_keys {
            attempts.retain(|_, times| times.back().is_some_and(|(at, _)| *at > cutoff));
            let over = (attempts.len() + keys.len()).saturating_sub(self.max_keys);
            if over > 0 {
                // Drop a tenth at once, oldest first, so a flood of new scopes costs one
                // sort per tenth of the capacity rather than one scan per attempt.
                let mut by_age: Vec<([u8; 16], Timestamp)> = attempts
                    .iter()
                    .map(|(k, times)| (*k, times.back().map_or(now, |(at, _)| *at)))
                    .collect();
                by_age.sort_unstable_by_key(|(_, at)| *at);
                for (k, _) in by_age.into_iter().take(over.max(self.max_keys / 10)) {
                    attempts.remove(&k);
                }
            }
        }
        for key in keys {
            attempts.entry(key.hash).or_default().push_back((now, id));
        }
        Ok(AttemptDecision::Reserved)
    }

    async fn release(&self, keys: &[AttemptKey], id: AttemptId) -> Result<(), StoreError> {
        let mut attempts = self.attempts.lock().unwrap_or_else(|e| e.into_inner());
        for key in keys {
            if let Some(times) = attempts.get_mut(&key.hash) {
                times.retain(|(_, other)| *other != id);
                if times.is_empty() {
                    attempts.remove(&key.hash);
                }
            }
        }
        Ok(())
    }

    async fn purge_attempts(&self, before: Timestamp) -> Result<u64, StoreError> {
        let mut attempts = self.attempts.lock().unwrap_or_else(|e| e.into_inner());
        let mut removed = 0u64;
        attempts.retain(|_, times| {
            let len = times.len();
            times.retain(|(at, _)| *at >= before);
            removed += (len - times.len()) as u64;
            !times.is_empty()
        });
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_fixed_size_and_unambiguous() {
        let long = vec![b'x'; 60_000];
        let k = AttemptKey::new(&[b"pair", b"10.0.0.1", &long], 10);
        assert_eq!(k.hash().len(), 16);
        assert_ne!(
            AttemptKey::new(&[b"ab", b"c"], 1),
            AttemptKey::new(&[b"a", b"bc"], 1)
        );
        assert_eq!(k.limit(), 10);
    }

    #[tokio::test]
    async fn the_key_count_is_capped() {
        let limiter = MemoryAttemptLimiter::with_max_keys(100);
        let now = Timestamp::from_millis(1_000_000);
        for i in 0..1000u32 {
            let key = AttemptKey::new(&[&i.to_be_bytes()], 10);
            let d = limiter
                .reserve(&[key], AttemptId::generate(), Duration::from_secs(60), now)
                .await
                .unwrap();
            assert_eq!(d, AttemptDecision::Reserved);
        }
        assert!(limiter.len() <= 100, "{}", limiter.len());
    }
}
