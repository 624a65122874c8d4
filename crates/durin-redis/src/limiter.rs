//! `AttemptLimiter` for [`RedisStore`]: the failed-login limit shared by every node, one
//! Lua script per operation.

use std::time::Duration;

use async_trait::async_trait;
use durin_core::{
    AttemptDecision, AttemptId, AttemptKey, AttemptLimiter, StoreError, Timestamp, retry_after,
};

use crate::RedisStore;
use crate::scripts::SCRIPTS;

/// Each key of an attempt is a sorted set `{prefix}:la:<key hash hex>` of attempt ids
/// (hex) scored by their time in milliseconds. `reserve` is one script over every key of
/// the attempt (prune the window, check every limit, then record under every key), so
/// concurrent reservations from any number of nodes never pass a limit. A key expires
/// (`PEXPIREAT`) when its newest attempt leaves the window, so Redis bounds the memory:
/// a key holds at most its limit of attempts (refusals record nothing), and
/// `purge_attempts` has nothing to do.
#[async_trait]
impl AttemptLimiter for RedisStore {
    async fn reserve(
        &self,
        keys: &[AttemptKey],
        id: AttemptId,
        window: Duration,
        now: Timestamp,
    ) -> Result<AttemptDecision, StoreError> {
        if keys.is_empty() {
            return Ok(AttemptDecision::Reserved);
        }
        let mut invocation = SCRIPTS.attempt_reserve.prepare_invoke();
        invocation
            .arg(now.as_millis())
            .arg(u64::try_from(window.as_millis()).unwrap_or(u64::MAX))
            .arg(id.to_hex());
        for key in keys {
            invocation.key(self.keys.attempts(key)).arg(key.limit());
        }
        let (reserved, oldest): (u8, i64) = self.run(&invocation).await?;
        Ok(if reserved == 1 {
            AttemptDecision::Reserved
        } else {
            AttemptDecision::Refused {
                retry_after: retry_after(Timestamp::from_millis(oldest), window, now),
            }
        })
    }

    async fn release(&self, keys: &[AttemptKey], id: AttemptId) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut invocation = SCRIPTS.attempt_release.prepare_invoke();
        invocation.arg(id.to_hex());
        for key in keys {
            invocation.key(self.keys.attempts(key));
        }
        self.run::<i64>(&invocation).await.map(drop)
    }

    /// Does nothing and returns 0: Redis expires each key when its newest attempt leaves
    /// the window, and prunes a key's older attempts at its next reservation.
    async fn purge_attempts(&self, _before: Timestamp) -> Result<u64, StoreError> {
        Ok(0)
    }
}
