//! `TokenStore` on both databases: sessions in `durin_sessions`, looked up by one index
//! probe; writes that must be atomic across rows (login with eviction, logout-all, a
//! refresh rotation) in one transaction holding the dialect's write lock.

use std::sync::Arc;

use durin_core::{
    InsertOutcome, InsertPolicy, RefreshLookup, Removal, Rotation, Session, SessionId, StoreError,
    Timestamp, TokenDigest, TokenStore, UserId, plan_insert,
};

use crate::SqlStore;
use crate::dialect::{Arg as _, Dialect, get};
use crate::error::map;
use crate::rows::{self, session_columns};

/// The session of `digest` in `pool`'s database: one index probe.
pub(crate) async fn fetch_session<D: Dialect>(
    pool: &sqlx::Pool<D>,
    digest: &TokenDigest,
) -> Result<Option<Arc<Session>>, StoreError> {
    sqlx::query(concat!(
        "SELECT ",
        session_columns!(),
        " FROM durin_sessions WHERE digest = $1"
    ))
    .arg_bytes(&digest.as_bytes()[..])
    .fetch_optional(D::pool(pool))
    .await
    .map_err(map)?
    .as_ref()
    .map(|row| rows::session::<D>(row).map(Arc::new))
    .transpose()
}

#[async_trait::async_trait]
impl<D: Dialect> TokenStore for SqlStore<D> {
    async fn insert(
        &self,
        session: &Session,
        policy: InsertPolicy,
    ) -> Result<InsertOutcome, StoreError> {
        // The per-user write lock serialises logins, logout-all and evictions of
        // one user: concurrent inserts never leave more than the cap, nor two
        // live tokens of one name. The policy itself is core's `plan_insert`.
        let mut tx = D::begin_user_write(&self.pool, &session.user_id)
            .await
            .map_err(map)?;
        let existing = sqlx::query(concat!(
            "SELECT ",
            session_columns!(),
            " FROM durin_sessions WHERE user_id = $1 AND revoked_at IS NULL \
             AND (expires_at IS NULL OR expires_at > $2) ORDER BY created_at, id"
        ))
        .arg_str(session.user_id.as_str())
        .arg(policy.now.as_millis())
        .fetch_all(D::conn(&mut tx))
        .await
        .map_err(map)?;
        let existing = rows::sessions::<D>(&existing)?;
        let doomed = match plan_insert(&existing, session, &policy) {
            Ok(doomed) => doomed,
            Err(refusal) => return Ok(InsertOutcome::Refused(refusal)),
        };
        let mut removed = Vec::with_capacity(doomed.len());
        for id in &doomed {
            if let Some(old) = rows::remove(D::conn(&mut tx), id, policy.removal).await? {
                removed.push(old);
            }
        }
        rows::insert_row(D::conn(&mut tx), session).await?;
        tx.commit().await.map_err(map)?;
        Ok(InsertOutcome::Inserted { removed })
    }

    async fn get(&self, digest: &TokenDigest) -> Result<Option<Arc<Session>>, StoreError> {
        // PostgreSQL with read replicas: the router (`replica.rs`); else the pool.
        D::get_session(self, digest).await
    }

    async fn get_by_id(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            session_columns!(),
            " FROM durin_sessions WHERE id = $1"
        ))
        .arg_str(id.as_str())
        .fetch_optional(self.db())
        .await
        .map_err(map)?
        .as_ref()
        .map(rows::session::<D>)
        .transpose()
    }

    async fn get_by_refresh(
        &self,
        digest: &TokenDigest,
    ) -> Result<Option<RefreshLookup>, StoreError> {
        let current = sqlx::query(concat!(
            "SELECT ",
            session_columns!(),
            " FROM durin_sessions WHERE refresh_digest = $1"
        ))
        .arg_bytes(&digest.as_bytes()[..])
        .fetch_optional(self.db())
        .await
        .map_err(map)?;
        if let Some(row) = current {
            return Ok(Some(RefreshLookup::Current(Box::new(rows::session::<D>(
                &row,
            )?))));
        }
        let rotated = sqlx::query("SELECT session_id FROM durin_rotated_refresh WHERE digest = $1")
            .arg_bytes(&digest.as_bytes()[..])
            .fetch_optional(self.db())
            .await
            .map_err(map)?;
        match rotated {
            None => Ok(None),
            Some(row) => {
                let id: String = get::<D, _>(&row, 0)?;
                let id = SessionId::new(id)
                    .map_err(|_| StoreError::Corrupt("rotated refresh session id".into()))?;
                Ok(Some(RefreshLookup::Rotated(id)))
            }
        }
    }

    async fn list_by_user(&self, user: &UserId) -> Result<Vec<Session>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            session_columns!(),
            " FROM durin_sessions WHERE user_id = $1 ORDER BY created_at, id"
        ))
        .arg_str(user.as_str())
        .fetch_all(self.db())
        .await
        .map_err(map)?;
        rows::sessions::<D>(&rows)
    }

    async fn extend(
        &self,
        id: &SessionId,
        expires_at: Option<Timestamp>,
        renewed_at: Timestamp,
    ) -> Result<Option<Session>, StoreError> {
        // One conditional UPDATE: a row deleted or revoked meanwhile matches
        // nothing, so a renewal never resurrects it.
        sqlx::query(concat!(
            "UPDATE durin_sessions SET expires_at = $2, renewed_at = $3 \
             WHERE id = $1 AND revoked_at IS NULL RETURNING ",
            session_columns!()
        ))
        .arg_str(id.as_str())
        .arg(expires_at.map(Timestamp::as_millis))
        .arg(renewed_at.as_millis())
        .fetch_optional(self.db())
        .await
        .map_err(map)?
        .as_ref()
        .map(rows::session::<D>)
        .transpose()
    }

    async fn touch(&self, id: &SessionId, at: Timestamp) -> Result<(), StoreError> {
        sqlx::query("UPDATE durin_sessions SET last_used_at = $2 WHERE id = $1")
            .arg_str(id.as_str())
            .arg(at.as_millis())
            .execute(self.db())
            .await
            .map_err(map)?;
        Ok(())
    }

    async fn rekey(
        &self,
        id: &SessionId,
        old: &TokenDigest,
        new: &TokenDigest,
    ) -> Result<bool, StoreError> {
        let result =
            sqlx::query("UPDATE durin_sessions SET digest = $3 WHERE id = $1 AND digest = $2")
                .arg_str(id.as_str())
                .arg_bytes(&old.as_bytes()[..])
                .arg_bytes(&new.as_bytes()[..])
                .execute(self.db())
                .await;
        match result.map_err(map) {
            Ok(done) => Ok(D::rows_affected(&done) == 1),
            // Another session already holds the new digest: leave this one be.
            Err(StoreError::Conflict(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn rotate(
        &self,
        id: &SessionId,
        presented: &TokenDigest,
        rotation: &Rotation,
    ) -> Result<Option<Session>, StoreError> {
        let mut tx = D::begin_write(&self.pool).await.map_err(map)?;
        let row = sqlx::query(concat!(
            "UPDATE durin_sessions SET digest = $3, expires_at = $4, renewed_at = $5, \
             refresh_digest = $6, refresh_expires_at = $7 \
             WHERE id = $1 AND refresh_digest = $2 AND revoked_at IS NULL RETURNING ",
            session_columns!()
        ))
        .arg_str(id.as_str())
        .arg_bytes(&presented.as_bytes()[..])
        .arg_bytes(&rotation.digest.as_bytes()[..])
        .arg(rotation.expires_at.map(Timestamp::as_millis))
        .arg(rotation.at.as_millis())
        .arg_bytes(&rotation.refresh_digest.as_bytes()[..])
        .arg(rotation.refresh_expires_at.as_millis())
        .fetch_optional(D::conn(&mut tx))
        .await
        .map_err(map)?;
        let Some(row) = row else { return Ok(None) };
        let session = rows::session::<D>(&row)?;
        sqlx::query("INSERT INTO durin_rotated_refresh (digest, session_id) VALUES ($1, $2)")
            .arg_bytes(&presented.as_bytes()[..])
            .arg_str(id.as_str())
            .execute(D::conn(&mut tx))
            .await
            .map_err(map)?;
        tx.commit().await.map_err(map)?;
        Ok(Some(session))
    }

    async fn remove(&self, id: &SessionId, how: Removal) -> Result<Option<Session>, StoreError> {
        rows::remove(self.db(), id, how).await
    }

    async fn remove_user(
        &self,
        user: &UserId,
        except: Option<&SessionId>,
        how: Removal,
    ) -> Result<Vec<Session>, StoreError> {
        // Session ids are never empty, so '' excepts nothing.
        let except = except.map_or("", SessionId::as_str);
        let mut tx = D::begin_user_write(&self.pool, user).await.map_err(map)?;
        let rows = match how {
            Removal::Delete => {
                sqlx::query(concat!(
                    "DELETE FROM durin_sessions WHERE user_id = $1 AND id <> $2 RETURNING ",
                    session_columns!()
                ))
                .arg_str(user.as_str())
                .arg_str(except)
                .fetch_all(D::conn(&mut tx))
                .await
            }
            Removal::Revoke { at } => {
                sqlx::query(concat!(
                    "UPDATE durin_sessions SET revoked_at = $3 \
                 WHERE user_id = $1 AND id <> $2 AND revoked_at IS NULL RETURNING ",
                    session_columns!()
                ))
                .arg_str(user.as_str())
                .arg_str(except)
                .arg(at.as_millis())
                .fetch_all(D::conn(&mut tx))
                .await
            }
        }
        .map_err(map)?;
        tx.commit().await.map_err(map)?;
        let mut removed = rows::sessions::<D>(&rows)?;
        for session in &mut removed {
            session.revoked_at = None;
        }
        removed.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(removed)
    }

    async fn purge_expired(&self, before: Timestamp, batch: u32) -> Result<u64, StoreError> {
        // Bounded: one batch of ids per statement, so a million expired rows are
        // deleted in short transactions that never lock the table for long.
        let done = sqlx::query(
            "DELETE FROM durin_sessions WHERE id IN (\
             SELECT id FROM durin_sessions WHERE (expires_at < $1 \
             AND (refresh_expires_at IS NULL OR refresh_expires_at < $1)) \
             OR revoked_at < $1 LIMIT $2)",
        )
        .arg(before.as_millis())
        .arg(i64::from(batch))
        .execute(self.db())
        .await
        .map_err(map)?;
        Ok(D::rows_affected(&done))
    }
}
