//! `AttemptLimiter` on both SQL backends: one row per reserved attempt and key in
//! `durin_login_attempts`, reserved in one transaction that serialises the keys' writers
//! (PostgreSQL: advisory locks per key in sorted order; SQLite: `BEGIN IMMEDIATE`).

use durin_core::AttemptKey;

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

/// Implements `durin_core::AttemptLimiter` for a store type with a `pool` field and a
/// `begin_attempts(&self, &[AttemptKey])` that opens a transaction serialising every
/// writer of those keys.
macro_rules! impl_attempt_limiter {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl durin_core::AttemptLimiter for $store {
            async fn reserve(
                &self,
                keys: &[durin_core::AttemptKey],
                id: durin_core::AttemptId,
                window: std::time::Duration,
                now: durin_core::Timestamp,
            ) -> Result<durin_core::AttemptDecision, durin_core::StoreError> {
                use $crate::error::map;
                let keys = $crate::attempts::distinct(keys);
                if keys.is_empty() {
                    return Ok(durin_core::AttemptDecision::Reserved);
                }
                let cutoff = now.saturating_sub(window).as_millis();
                let mut tx = self.begin_attempts(&keys).await.map_err(map)?;
                for key in &keys {
                    sqlx::query("DELETE FROM durin_login_attempts WHERE key = $1 AND at <= $2")
                        .bind(&key.hash()[..])
                        .bind(cutoff)
                        .execute(&mut *tx)
                        .await
                        .map_err(map)?;
                    let (count, oldest): (i64, Option<i64>) = sqlx::query_as(
                        "SELECT COUNT(*), MIN(at) FROM durin_login_attempts WHERE key = $1",
                    )
                    .bind(&key.hash()[..])
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(map)?;
                    if count >= i64::from(key.limit()) {
                        // Keep the expired attempts' deletion: it changes no decision.
                        tx.commit().await.map_err(map)?;
                        let oldest = oldest.map_or(now, durin_core::Timestamp::from_millis);
                        return Ok(durin_core::AttemptDecision::Refused {
                            retry_after: durin_core::retry_after(oldest, window, now),
                        });
                    }
                }
                for key in &keys {
                    sqlx::query(
                        "INSERT INTO durin_login_attempts (key, id, at) VALUES ($1, $2, $3) \
                         ON CONFLICT (key, id) DO NOTHING",
                    )
                    .bind(&key.hash()[..])
                    .bind(&id.as_bytes()[..])
                    .bind(now.as_millis())
                    .execute(&mut *tx)
                    .await
                    .map_err(map)?;
                }
                tx.commit().await.map_err(map)?;
                Ok(durin_core::AttemptDecision::Reserved)
            }

            async fn release(
                &self,
                keys: &[durin_core::AttemptKey],
                id: durin_core::AttemptId,
            ) -> Result<(), durin_core::StoreError> {
                for key in $crate::attempts::distinct(keys) {
                    sqlx::query("DELETE FROM durin_login_attempts WHERE key = $1 AND id = $2")
                        .bind(&key.hash()[..])
                        .bind(&id.as_bytes()[..])
                        .execute(&self.pool)
                        .await
                        .map_err($crate::error::map)?;
                }
                Ok(())
            }

            async fn purge_attempts(
                &self,
                before: durin_core::Timestamp,
            ) -> Result<u64, durin_core::StoreError> {
                let done = sqlx::query("DELETE FROM durin_login_attempts WHERE at < $1")
                    .bind(before.as_millis())
                    .execute(&self.pool)
                    .await
                    .map_err($crate::error::map)?;
                Ok(done.rows_affected())
            }
        }
    };
}
pub(crate) use impl_attempt_limiter;

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
