//! `Leases` on both databases: a `durin_leases` row taken by one conditional upsert, so
//! one node at a time runs the purge.

use std::time::Duration;

use durin_core::{Leases, StoreError, Timestamp};

use crate::SqlStore;
use crate::dialect::{Arg as _, Dialect};
use crate::error::map;

#[async_trait::async_trait]
impl<D: Dialect> Leases for SqlStore<D> {
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        // One conditional upsert: a new row, or the row of an expired lease or of
        // this holder's own; another holder's running lease updates nothing and
        // returns no row.
        let row = sqlx::query(
            "INSERT INTO durin_leases (name, holder, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE \
             SET holder = excluded.holder, expires_at = excluded.expires_at \
             WHERE durin_leases.holder = excluded.holder \
             OR durin_leases.expires_at <= $4 \
             RETURNING holder",
        )
        .arg_str(name)
        .arg_str(holder)
        .arg(now.saturating_add(ttl).as_millis())
        .arg(now.as_millis())
        .fetch_optional(self.db())
        .await
        .map_err(map)?;
        Ok(row.is_some())
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM durin_leases WHERE name = $1 AND holder = $2")
            .arg_str(name)
            .arg_str(holder)
            .execute(self.db())
            .await
            .map_err(map)?;
        Ok(())
    }
}
