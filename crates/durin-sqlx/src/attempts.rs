//! `AttemptLimiter` on both SQL backends: one row per reserved attempt and key in
//! `durin_login_attempts`, reserved in one transaction that serialises the keys' writers
//! (PostgreSQL: advisory locks per key in sorted order; SQLite: `BEGIN IMMEDIATE`).

use std::time::Duration;

use durin_core::{
    AttemptDecision, AttemptId, AttemptKey, AttemptLimiter, StoreError, Timestamp, retry_after,
};

use crate::SqlStore;
use crate::dialect::{Arg as _, Dialect, get};
use crate::error::map;

/// `keys` without repeats, in their first order (the refusal names the first full key).
pub(crate) fn distinct(keys: &[AttemptKey]) -> Vec<AttemptKey> {
    let mut out: Vec<AttemptKey> = Vec::with_capacity(keys.len());
    for key in keys {
        if !out.iter().any(|k| k.hash() == key.hash()) {
            out.push(*key);
        }
    }
    out
}

#[async_trait::async_trait]
impl<D: Dialect> AttemptLimiter for SqlStore<D> {
    async fn reserve(
        &self,
        keys: &[AttemptKey],
        id: AttemptId,
        window: Duration,
        now: Timestamp,
    ) -> Result<AttemptDecision, StoreError> {
        let keys = distinct(keys);
        if keys.is_empty() {
            return Ok(AttemptDecision::Reserved);
        }
        let cutoff = now.saturating_sub(window).as_millis();
        let mut tx = D::begin_attempts(&self.pool, &keys).await.map_err(map)?;
        for key in &keys {
            sqlx::query("DELETE FROM durin_login_attempts WHERE key = $1 AND at <= $2")
                .arg_bytes(&key.hash()[..])
                .arg(cutoff)
                .execute(D::conn(&mut tx))
                .await
                .map_err(map)?;
            let row =
                sqlx::query("SELECT COUNT(*), MIN(at) FROM durin_login_attempts WHERE key = $1")
                    .arg_bytes(&key.hash()[..])
                    .fetch_one(D::conn(&mut tx))
                    .await
                    .map_err(map)?;
            let (count, oldest): (i64, Option<i64>) =
                (get::<D, _>(&row, 0)?, get::<D, _>(&row, 1)?);
            if count >= i64::from(key.limit()) {
                // Keep the expired attempts' deletion: it changes no decision.
                tx.commit().await.map_err(map)?;
                let oldest = oldest.map_or(now, Timestamp::from_millis);
                return Ok(AttemptDecision::Refused {
                    retry_after: retry_after(oldest, window, now),
                });
            }
        }
        for key in &keys {
            sqlx::query(
                "INSERT INTO durin_login_attempts (key, id, at) VALUES ($1, $2, $3) \
                 ON CONFLICT (key, id) DO NOTHING",
            )
            .arg_bytes(&key.hash()[..])
            .arg_bytes(&id.as_bytes()[..])
            .arg(now.as_millis())
            .execute(D::conn(&mut tx))
            .await
            .map_err(map)?;
        }
        tx.commit().await.map_err(map)?;
        Ok(AttemptDecision::Reserved)
    }

    async fn release(&self, keys: &[AttemptKey], id: AttemptId) -> Result<(), StoreError> {
        for key in distinct(keys) {
            sqlx::query("DELETE FROM durin_login_attempts WHERE key = $1 AND id = $2")
                .arg_bytes(&key.hash()[..])
                .arg_bytes(&id.as_bytes()[..])
                .execute(self.db())
                .await
                .map_err(map)?;
        }
        Ok(())
    }

    async fn purge_attempts(&self, before: Timestamp) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM durin_login_attempts WHERE at < $1")
            .arg(before.as_millis())
            .execute(self.db())
            .await
            .map_err(map)?;
        Ok(D::rows_affected(&done))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_dropped_in_order() {
        let (a, b) = (AttemptKey::new(&[b"a"], 1), AttemptKey::new(&[b"b"], 2));
        let got = distinct(&[b, a, b, a]);
        assert_eq!(got, vec![b, a]);
    }
}
