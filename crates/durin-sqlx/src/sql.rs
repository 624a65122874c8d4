//! The SQL both backends share. PostgreSQL and SQLite accept the same statements here
//! (SQLite reads `$N` placeholders, and both have `RETURNING` and `ON CONFLICT`), so one
//! macro stamps the trait implementations for each pool type; each backend supplies only
//! how a write transaction begins (see `postgres.rs` and `sqlite.rs`).

/// The session columns, in the order [`decode_session`] reads them.
macro_rules! session_columns {
    () => {
        "id, digest, user_id, client, created_at, expires_at, renewed_at, last_used_at, \
         scopes, context, transport, revoked_at, refresh_digest, refresh_expires_at, name"
    };
}
pub(crate) use session_columns;

/// The version of the JSON a client policy is stored as (`durin_clients.format`).
pub(crate) const CLIENT_FORMAT: i32 = 1;

/// Decodes a stored JSON column.
pub(crate) fn json<T: serde::de::DeserializeOwned>(
    column: &str,
    text: &str,
) -> Result<T, durin_core::StoreError> {
    serde_json::from_str(text)
        .map_err(|e| durin_core::StoreError::Corrupt(format!("column {column}: {e}")))
}

/// Encodes a value as JSON text for a column.
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Result<String, durin_core::StoreError> {
    serde_json::to_string(value).map_err(durin_core::StoreError::backend)
}

/// Decodes a stored digest (32 bytes).
pub(crate) fn digest(
    column: &str,
    bytes: &[u8],
) -> Result<durin_core::TokenDigest, durin_core::StoreError> {
    durin_core::TokenDigest::from_slice(bytes).ok_or_else(|| {
        durin_core::StoreError::Corrupt(format!("column {column}: {} bytes, not 32", bytes.len()))
    })
}

/// The raw columns of one session row, decoded by [`decode_session`].
pub(crate) struct SessionRow {
    pub(crate) id: String,
    pub(crate) digest: Vec<u8>,
    pub(crate) user_id: String,
    pub(crate) client: String,
    pub(crate) created_at: i64,
    pub(crate) expires_at: Option<i64>,
    pub(crate) renewed_at: Option<i64>,
    pub(crate) last_used_at: Option<i64>,
    pub(crate) scopes: String,
    pub(crate) context: String,
    pub(crate) transport: String,
    pub(crate) revoked_at: Option<i64>,
    pub(crate) refresh_digest: Option<Vec<u8>>,
    pub(crate) refresh_expires_at: Option<i64>,
    pub(crate) name: Option<String>,
}

/// Turns a row into a [`durin_core::Session`], refusing anything malformed.
pub(crate) fn decode_session(
    row: SessionRow,
) -> Result<durin_core::Session, durin_core::StoreError> {
    use durin_core::{
        ClientName, RefreshState, SessionId, StoreError, Timestamp, Transport, UserId,
    };
    let corrupt = |what: &str| StoreError::Corrupt(what.to_owned());
    let refresh = match (row.refresh_digest, row.refresh_expires_at) {
        (Some(d), Some(at)) => Some(RefreshState {
            digest: digest("refresh_digest", &d)?,
            expires_at: Timestamp::from_millis(at),
        }),
        (None, None) => None,
        _ => return Err(corrupt("refresh_digest and refresh_expires_at disagree")),
    };
    Ok(durin_core::Session {
        id: SessionId::new(row.id).map_err(|_| corrupt("id"))?,
        digest: digest("digest", &row.digest)?,
        user_id: UserId::new(row.user_id).map_err(|_| corrupt("user_id"))?,
        client: ClientName::new(row.client).map_err(|_| corrupt("client"))?,
        created_at: Timestamp::from_millis(row.created_at),
        expires_at: row.expires_at.map(Timestamp::from_millis),
        renewed_at: row.renewed_at.map(Timestamp::from_millis),
        last_used_at: row.last_used_at.map(Timestamp::from_millis),
        scopes: json("scopes", &row.scopes)?,
        context: json("context", &row.context)?,
        transport: Transport::parse(&row.transport).ok_or_else(|| corrupt("transport"))?,
        revoked_at: row.revoked_at.map(Timestamp::from_millis),
        refresh,
        name: row
            .name
            .map(durin_core::TokenName::new)
            .transpose()
            .map_err(|_| corrupt("name"))?,
    })
}

/// Decodes a stored client policy.
pub(crate) fn decode_client(
    format: i32,
    policy: &str,
) -> Result<durin_core::Client, durin_core::StoreError> {
    if format != CLIENT_FORMAT {
        return Err(durin_core::StoreError::Corrupt(format!(
            "client policy format {format}; this version of durin-sqlx reads {CLIENT_FORMAT}"
        )));
    }
    json("policy", policy)
}

/// Implements `TokenStore`, `ClientStore` and `SessionAdmin` for a store type with a
/// `pool` field of pool type `$pool`, rows of type `$row`, and two methods:
/// `begin_write(&self)` (a transaction that holds the write lock it needs) and
/// `begin_user_write(&self, &UserId)` (the same, serialised per user).
macro_rules! impl_sql_store {
    ($store:ty, $row:ty, $backend:literal) => {
        impl $store {
            fn row(row: &$row) -> Result<durin_core::Session, durin_core::StoreError> {
                use sqlx::Row as _;
                let get = |e| $crate::error::map(e);
                $crate::sql::decode_session($crate::sql::SessionRow {
                    id: row.try_get(0).map_err(get)?,
                    digest: row.try_get(1).map_err(get)?,
                    user_id: row.try_get(2).map_err(get)?,
                    client: row.try_get(3).map_err(get)?,
                    created_at: row.try_get(4).map_err(get)?,
                    expires_at: row.try_get(5).map_err(get)?,
                    renewed_at: row.try_get(6).map_err(get)?,
                    last_used_at: row.try_get(7).map_err(get)?,
                    scopes: row.try_get(8).map_err(get)?,
                    context: row.try_get(9).map_err(get)?,
                    transport: row.try_get(10).map_err(get)?,
                    revoked_at: row.try_get(11).map_err(get)?,
                    refresh_digest: row.try_get(12).map_err(get)?,
                    refresh_expires_at: row.try_get(13).map_err(get)?,
                    name: row.try_get(14).map_err(get)?,
                })
            }

            fn rows(rows: &[$row]) -> Result<Vec<durin_core::Session>, durin_core::StoreError> {
                rows.iter().map(Self::row).collect()
            }

            async fn insert_row<'e, E>(
                executor: E,
                s: &durin_core::Session,
            ) -> Result<(), durin_core::StoreError>
            where
                E: sqlx::Executor<'e, Database = <$row as sqlx::Row>::Database>,
            {
                sqlx::query(concat!(
                    "INSERT INTO durin_sessions (",
                    $crate::sql::session_columns!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
                ))
                .bind(s.id.as_str())
                .bind(&s.digest.as_bytes()[..])
                .bind(s.user_id.as_str())
                .bind(s.client.as_str())
                .bind(s.created_at.as_millis())
                .bind(s.expires_at.map(durin_core::Timestamp::as_millis))
                .bind(s.renewed_at.map(durin_core::Timestamp::as_millis))
                .bind(s.last_used_at.map(durin_core::Timestamp::as_millis))
                .bind($crate::sql::to_json(&s.scopes)?)
                .bind($crate::sql::to_json(&s.context)?)
                .bind(s.transport.as_str())
                .bind(s.revoked_at.map(durin_core::Timestamp::as_millis))
                .bind(s.refresh.as_ref().map(|r| r.digest.as_bytes().to_vec()))
                .bind(s.refresh.as_ref().map(|r| r.expires_at.as_millis()))
                .bind(s.name.as_ref().map(durin_core::TokenName::as_str))
                .execute(executor)
                .await
                .map_err($crate::error::map)?;
                Ok(())
            }

            /// Removes one session inside `tx`; returns it as it was, or `None` when it
            /// was gone (or, when revoking, already revoked).
            async fn remove_in<'e, E>(
                executor: E,
                id: &durin_core::SessionId,
                how: durin_core::Removal,
            ) -> Result<Option<durin_core::Session>, durin_core::StoreError>
            where
                E: sqlx::Executor<'e, Database = <$row as sqlx::Row>::Database>,
            {
                let row = match how {
                    durin_core::Removal::Delete => sqlx::query(concat!(
                        "DELETE FROM durin_sessions WHERE id = $1 RETURNING ",
                        $crate::sql::session_columns!()
                    ))
                    .bind(id.as_str())
                    .fetch_optional(executor)
                    .await,
                    durin_core::Removal::Revoke { at } => sqlx::query(concat!(
                        "UPDATE durin_sessions SET revoked_at = $2 \
                         WHERE id = $1 AND revoked_at IS NULL RETURNING ",
                        $crate::sql::session_columns!()
                    ))
                    .bind(id.as_str())
                    .bind(at.as_millis())
                    .fetch_optional(executor)
                    .await,
                }
                .map_err($crate::error::map)?;
                let Some(row) = row else { return Ok(None) };
                let mut session = Self::row(&row)?;
                // "As it was": before this call it was not revoked.
                session.revoked_at = None;
                Ok(Some(session))
            }
        }

        #[async_trait::async_trait]
        impl durin_core::TokenStore for $store {
            async fn insert(
                &self,
                session: &durin_core::Session,
                policy: durin_core::InsertPolicy,
            ) -> Result<durin_core::InsertOutcome, durin_core::StoreError> {
                // The per-user write lock serialises logins, logout-all and evictions of
                // one user: concurrent inserts never leave more than the cap, nor two
                // live tokens of one name. The policy itself is core's `plan_insert`.
                let mut tx = self
                    .begin_user_write(&session.user_id)
                    .await
                    .map_err($crate::error::map)?;
                let existing = sqlx::query(concat!(
                    "SELECT ",
                    $crate::sql::session_columns!(),
                    " FROM durin_sessions WHERE user_id = $1 AND revoked_at IS NULL \
                     AND (expires_at IS NULL OR expires_at > $2) ORDER BY created_at, id"
                ))
                .bind(session.user_id.as_str())
                .bind(policy.now.as_millis())
                .fetch_all(&mut *tx)
                .await
                .map_err($crate::error::map)?;
                let existing = Self::rows(&existing)?;
                let doomed = match durin_core::plan_insert(&existing, session, &policy) {
                    Ok(doomed) => doomed,
                    Err(refusal) => return Ok(durin_core::InsertOutcome::Refused(refusal)),
                };
                let mut removed = Vec::with_capacity(doomed.len());
                for id in &doomed {
                    if let Some(old) = Self::remove_in(&mut *tx, id, policy.removal).await? {
                        removed.push(old);
                    }
                }
                Self::insert_row(&mut *tx, session).await?;
                tx.commit().await.map_err($crate::error::map)?;
                Ok(durin_core::InsertOutcome::Inserted { removed })
            }

            async fn get(
                &self,
                digest: &durin_core::TokenDigest,
            ) -> Result<Option<std::sync::Arc<durin_core::Session>>, durin_core::StoreError> {
                sqlx::query(concat!(
                    "SELECT ",
                    $crate::sql::session_columns!(),
                    " FROM durin_sessions WHERE digest = $1"
                ))
                .bind(&digest.as_bytes()[..])
                .fetch_optional(&self.pool)
                .await
                .map_err($crate::error::map)?
                .as_ref()
                .map(|row| Self::row(row).map(std::sync::Arc::new))
                .transpose()
            }

            async fn get_by_id(
                &self,
                id: &durin_core::SessionId,
            ) -> Result<Option<durin_core::Session>, durin_core::StoreError> {
                sqlx::query(concat!(
                    "SELECT ",
                    $crate::sql::session_columns!(),
                    " FROM durin_sessions WHERE id = $1"
                ))
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err($crate::error::map)?
                .as_ref()
                .map(Self::row)
                .transpose()
            }

            async fn get_by_refresh(
                &self,
                digest: &durin_core::TokenDigest,
            ) -> Result<Option<durin_core::RefreshLookup>, durin_core::StoreError> {
                use sqlx::Row as _;
                let current = sqlx::query(concat!(
                    "SELECT ",
                    $crate::sql::session_columns!(),
                    " FROM durin_sessions WHERE refresh_digest = $1"
                ))
                .bind(&digest.as_bytes()[..])
                .fetch_optional(&self.pool)
                .await
                .map_err($crate::error::map)?;
                if let Some(row) = current {
                    return Ok(Some(durin_core::RefreshLookup::Current(Box::new(Self::row(&row)?))));
                }
                let rotated = sqlx::query(
                    "SELECT session_id FROM durin_rotated_refresh WHERE digest = $1",
                )
                .bind(&digest.as_bytes()[..])
                .fetch_optional(&self.pool)
                .await
                .map_err($crate::error::map)?;
                match rotated {
                    None => Ok(None),
                    Some(row) => {
                        let id: String = row.try_get(0).map_err($crate::error::map)?;
                        let id = durin_core::SessionId::new(id).map_err(|_| {
                            durin_core::StoreError::Corrupt("rotated refresh session id".into())
                        })?;
                        Ok(Some(durin_core::RefreshLookup::Rotated(id)))
                    }
                }
            }

            async fn list_by_user(
                &self,
                user: &durin_core::UserId,
            ) -> Result<Vec<durin_core::Session>, durin_core::StoreError> {
                let rows = sqlx::query(concat!(
                    "SELECT ",
                    $crate::sql::session_columns!(),
                    " FROM durin_sessions WHERE user_id = $1 ORDER BY created_at, id"
                ))
                .bind(user.as_str())
                .fetch_all(&self.pool)
                .await
                .map_err($crate::error::map)?;
                Self::rows(&rows)
            }

            async fn extend(
                &self,
                id: &durin_core::SessionId,
                expires_at: Option<durin_core::Timestamp>,
                renewed_at: durin_core::Timestamp,
            ) -> Result<Option<durin_core::Session>, durin_core::StoreError> {
                // One conditional UPDATE: a row deleted or revoked meanwhile matches
                // nothing, so a renewal never resurrects it.
                sqlx::query(concat!(
                    "UPDATE durin_sessions SET expires_at = $2, renewed_at = $3 \
                     WHERE id = $1 AND revoked_at IS NULL RETURNING ",
                    $crate::sql::session_columns!()
                ))
                .bind(id.as_str())
                .bind(expires_at.map(durin_core::Timestamp::as_millis))
                .bind(renewed_at.as_millis())
                .fetch_optional(&self.pool)
                .await
                .map_err($crate::error::map)?
                .as_ref()
                .map(Self::row)
                .transpose()
            }

            async fn touch(
                &self,
                id: &durin_core::SessionId,
                at: durin_core::Timestamp,
            ) -> Result<(), durin_core::StoreError> {
                sqlx::query("UPDATE durin_sessions SET last_used_at = $2 WHERE id = $1")
                    .bind(id.as_str())
                    .bind(at.as_millis())
                    .execute(&self.pool)
                    .await
                    .map_err($crate::error::map)?;
                Ok(())
            }

            async fn rekey(
                &self,
                id: &durin_core::SessionId,
                old: &durin_core::TokenDigest,
                new: &durin_core::TokenDigest,
            ) -> Result<bool, durin_core::StoreError> {
                let result = sqlx::query(
                    "UPDATE durin_sessions SET digest = $3 WHERE id = $1 AND digest = $2",
                )
                .bind(id.as_str())
                .bind(&old.as_bytes()[..])
                .bind(&new.as_bytes()[..])
                .execute(&self.pool)
                .await;
                match result.map_err($crate::error::map) {
                    Ok(done) => Ok(done.rows_affected() == 1),
                    // Another session already holds the new digest: leave this one be.
                    Err(durin_core::StoreError::Conflict(_)) => Ok(false),
                    Err(e) => Err(e),
                }
            }

            async fn rotate(
                &self,
                id: &durin_core::SessionId,
                presented: &durin_core::TokenDigest,
                rotation: &durin_core::Rotation,
            ) -> Result<Option<durin_core::Session>, durin_core::StoreError> {
                let mut tx = self.begin_write().await.map_err($crate::error::map)?;
                let row = sqlx::query(concat!(
                    "UPDATE durin_sessions SET digest = $3, expires_at = $4, renewed_at = $5, \
                     refresh_digest = $6, refresh_expires_at = $7 \
                     WHERE id = $1 AND refresh_digest = $2 AND revoked_at IS NULL RETURNING ",
                    $crate::sql::session_columns!()
                ))
                .bind(id.as_str())
                .bind(&presented.as_bytes()[..])
                .bind(&rotation.digest.as_bytes()[..])
                .bind(rotation.expires_at.map(durin_core::Timestamp::as_millis))
                .bind(rotation.at.as_millis())
                .bind(&rotation.refresh_digest.as_bytes()[..])
                .bind(rotation.refresh_expires_at.as_millis())
                .fetch_optional(&mut *tx)
                .await
                .map_err($crate::error::map)?;
                let Some(row) = row else { return Ok(None) };
                let session = Self::row(&row)?;
                sqlx::query(
                    "INSERT INTO durin_rotated_refresh (digest, session_id) VALUES ($1, $2)",
                )
                .bind(&presented.as_bytes()[..])
                .bind(id.as_str())
                .execute(&mut *tx)
                .await
                .map_err($crate::error::map)?;
                tx.commit().await.map_err($crate::error::map)?;
                Ok(Some(session))
            }

            async fn remove(
                &self,
                id: &durin_core::SessionId,
                how: durin_core::Removal,
            ) -> Result<Option<durin_core::Session>, durin_core::StoreError> {
                Self::remove_in(&self.pool, id, how).await
            }

            async fn remove_user(
                &self,
                user: &durin_core::UserId,
                except: Option<&durin_core::SessionId>,
                how: durin_core::Removal,
            ) -> Result<Vec<durin_core::Session>, durin_core::StoreError> {
                // Session ids are never empty, so '' excepts nothing.
                let except = except.map_or("", durin_core::SessionId::as_str);
                let mut tx = self.begin_user_write(user).await.map_err($crate::error::map)?;
                let rows = match how {
                    durin_core::Removal::Delete => sqlx::query(concat!(
                        "DELETE FROM durin_sessions WHERE user_id = $1 AND id <> $2 RETURNING ",
                        $crate::sql::session_columns!()
                    ))
                    .bind(user.as_str())
                    .bind(except)
                    .fetch_all(&mut *tx)
                    .await,
                    durin_core::Removal::Revoke { at } => sqlx::query(concat!(
                        "UPDATE durin_sessions SET revoked_at = $3 \
                         WHERE user_id = $1 AND id <> $2 AND revoked_at IS NULL RETURNING ",
                        $crate::sql::session_columns!()
                    ))
                    .bind(user.as_str())
                    .bind(except)
                    .bind(at.as_millis())
                    .fetch_all(&mut *tx)
                    .await,
                }
                .map_err($crate::error::map)?;
                tx.commit().await.map_err($crate::error::map)?;
                let mut removed = Self::rows(&rows)?;
                for session in &mut removed {
                    session.revoked_at = None;
                }
                removed.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
                Ok(removed)
            }

            async fn purge_expired(
                &self,
                before: durin_core::Timestamp,
                batch: u32,
            ) -> Result<u64, durin_core::StoreError> {
                // Bounded: one batch of ids per statement, so a million expired rows are
                // deleted in short transactions that never lock the table for long.
                let done = sqlx::query(
                    "DELETE FROM durin_sessions WHERE id IN (\
                     SELECT id FROM durin_sessions WHERE (expires_at < $1 \
                     AND (refresh_expires_at IS NULL OR refresh_expires_at < $1)) \
                     OR revoked_at < $1 LIMIT $2)",
                )
                .bind(before.as_millis())
                .bind(i64::from(batch))
                .execute(&self.pool)
                .await
                .map_err($crate::error::map)?;
                Ok(done.rows_affected())
            }
        }

        #[async_trait::async_trait]
        impl durin_core::Leases for $store {

            async fn acquire_lease(
                &self,
                name: &str,
                holder: &str,
                ttl: std::time::Duration,
                now: durin_core::Timestamp,
            ) -> Result<bool, durin_core::StoreError> {
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
                .bind(name)
                .bind(holder)
                .bind(now.saturating_add(ttl).as_millis())
                .bind(now.as_millis())
                .fetch_optional(&self.pool)
                .await
                .map_err($crate::error::map)?;
                Ok(row.is_some())
            }

            async fn release_lease(
                &self,
                name: &str,
                holder: &str,
            ) -> Result<(), durin_core::StoreError> {
                sqlx::query("DELETE FROM durin_leases WHERE name = $1 AND holder = $2")
                    .bind(name)
                    .bind(holder)
                    .execute(&self.pool)
                    .await
                    .map_err($crate::error::map)?;
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl durin_core::SessionImport for $store {
            async fn import_sessions(
                &self,
                sessions: &[durin_core::Session],
                _now: durin_core::Timestamp,
            ) -> Result<u64, durin_core::StoreError> {
                // 500 rows of 15 parameters per statement: under both backends'
                // parameter limits; one short transaction per statement.
                let mut inserted = 0;
                for chunk in sessions.chunks(500) {
                    let rows = chunk
                        .iter()
                        .map(|s| {
                            Ok((
                                s,
                                $crate::sql::to_json(&s.scopes)?,
                                $crate::sql::to_json(&s.context)?,
                            ))
                        })
                        .collect::<Result<Vec<_>, durin_core::StoreError>>()?;
                    let mut query =
                        sqlx::QueryBuilder::<<$row as sqlx::Row>::Database>::new(concat!(
                            "INSERT INTO durin_sessions (",
                            $crate::sql::session_columns!(),
                            ") "
                        ));
                    query.push_values(&rows, |mut b, (s, scopes, context)| {
                        b.push_bind(s.id.as_str())
                            .push_bind(&s.digest.as_bytes()[..])
                            .push_bind(s.user_id.as_str())
                            .push_bind(s.client.as_str())
                            .push_bind(s.created_at.as_millis())
                            .push_bind(s.expires_at.map(durin_core::Timestamp::as_millis))
                            .push_bind(s.renewed_at.map(durin_core::Timestamp::as_millis))
                            .push_bind(s.last_used_at.map(durin_core::Timestamp::as_millis))
                            .push_bind(scopes.as_str())
                            .push_bind(context.as_str())
                            .push_bind(s.transport.as_str())
                            .push_bind(s.revoked_at.map(durin_core::Timestamp::as_millis))
                            .push_bind(s.refresh.as_ref().map(|r| r.digest.as_bytes().to_vec()))
                            .push_bind(s.refresh.as_ref().map(|r| r.expires_at.as_millis()))
                            .push_bind(s.name.as_ref().map(durin_core::TokenName::as_str));
                    });
                    query.push(" ON CONFLICT DO NOTHING");
                    let mut tx = self.begin_write().await.map_err($crate::error::map)?;
                    let done = query
                        .build()
                        .execute(&mut *tx)
                        .await
                        .map_err($crate::error::map)?;
                    tx.commit().await.map_err($crate::error::map)?;
                    inserted += done.rows_affected();
                }
                Ok(inserted)
            }
        }

        #[async_trait::async_trait]
        impl durin_core::ClientStore for $store {
            async fn get_client(
                &self,
                name: &durin_core::ClientName,
            ) -> Result<Option<durin_core::Client>, durin_core::StoreError> {
                let row: Option<(i32, String)> =
                    sqlx::query_as("SELECT format, policy FROM durin_clients WHERE name = $1")
                        .bind(name.as_str())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err($crate::error::map)?;
                row.map(|(format, policy)| $crate::sql::decode_client(format, &policy))
                    .transpose()
            }

            async fn list_clients(&self) -> Result<Vec<durin_core::Client>, durin_core::StoreError> {
                let rows: Vec<(i32, String)> =
                    sqlx::query_as("SELECT format, policy FROM durin_clients ORDER BY name")
                        .fetch_all(&self.pool)
                        .await
                        .map_err($crate::error::map)?;
                rows.iter()
                    .map(|(format, policy)| $crate::sql::decode_client(*format, policy))
                    .collect()
            }

            async fn create_client(
                &self,
                client: &durin_core::Client,
            ) -> Result<(), durin_core::StoreError> {
                use durin_core::Clock as _;
                let now = durin_core::SystemClock.now().as_millis();
                let result = sqlx::query(
                    "INSERT INTO durin_clients (name, format, policy, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $4)",
                )
                .bind(client.name.as_str())
                .bind($crate::sql::CLIENT_FORMAT)
                .bind($crate::sql::to_json(client)?)
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err($crate::error::map);
                match result {
                    Ok(_) => Ok(()),
                    Err(durin_core::StoreError::Conflict(_)) => Err(
                        durin_core::StoreError::Conflict(format!("a client named {} exists", client.name)),
                    ),
                    Err(e) => Err(e),
                }
            }

            async fn upsert_client(
                &self,
                client: &durin_core::Client,
            ) -> Result<(), durin_core::StoreError> {
                use durin_core::Clock as _;
                let now = durin_core::SystemClock.now().as_millis();
                sqlx::query(
                    "INSERT INTO durin_clients (name, format, policy, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $4) ON CONFLICT (name) DO UPDATE SET \
                     format = excluded.format, policy = excluded.policy, \
                     updated_at = excluded.updated_at",
                )
                .bind(client.name.as_str())
                .bind($crate::sql::CLIENT_FORMAT)
                .bind($crate::sql::to_json(client)?)
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err($crate::error::map)?;
                Ok(())
            }

            async fn delete_client(
                &self,
                name: &durin_core::ClientName,
            ) -> Result<bool, durin_core::StoreError> {
                let done = sqlx::query("DELETE FROM durin_clients WHERE name = $1")
                    .bind(name.as_str())
                    .execute(&self.pool)
                    .await
                    .map_err($crate::error::map)?;
                Ok(done.rows_affected() > 0)
            }
        }

        #[async_trait::async_trait]
        impl durin_core::SessionAdmin for $store {
            async fn list_sessions(
                &self,
                query: &durin_core::SessionQuery,
            ) -> Result<Vec<durin_core::Session>, durin_core::StoreError> {
                let mut sql = String::from(concat!(
                    "SELECT ",
                    $crate::sql::session_columns!(),
                    " FROM durin_sessions WHERE 1 = 1"
                ));
                let mut filters: Vec<(&str, &str)> = Vec::new();
                if let Some(user) = &query.user {
                    filters.push(("user_id =", user.as_str()));
                }
                if let Some(client) = &query.client {
                    filters.push(("client =", client.as_str()));
                }
                if let Some(after) = &query.after {
                    filters.push(("id >", after.as_str()));
                }
                for (i, (condition, _)) in filters.iter().enumerate() {
                    sql.push_str(&format!(" AND {condition} ${}", i + 1));
                }
                sql.push_str(&format!(" ORDER BY id LIMIT {}", query.limit));
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for (_, value) in filters {
                    q = q.bind(value);
                }
                let rows = q.fetch_all(&self.pool).await.map_err($crate::error::map)?;
                Self::rows(&rows)
            }

            async fn count_client_sessions(
                &self,
                client: &durin_core::ClientName,
            ) -> Result<u64, durin_core::StoreError> {
                let (n,): (i64,) =
                    sqlx::query_as("SELECT COUNT(*) FROM durin_sessions WHERE client = $1")
                        .bind(client.as_str())
                        .fetch_one(&self.pool)
                        .await
                        .map_err($crate::error::map)?;
                Ok(u64::try_from(n).unwrap_or(0))
            }

            async fn remove_client_sessions(
                &self,
                client: &durin_core::ClientName,
            ) -> Result<u64, durin_core::StoreError> {
                let done = sqlx::query("DELETE FROM durin_sessions WHERE client = $1")
                    .bind(client.as_str())
                    .execute(&self.pool)
                    .await
                    .map_err($crate::error::map)?;
                Ok(done.rows_affected())
            }
        }

        #[async_trait::async_trait]
        impl durin_core::Backend for $store {
            fn name(&self) -> &'static str {
                $backend
            }
            fn tokens(self: std::sync::Arc<Self>) -> std::sync::Arc<dyn durin_core::TokenStore> {
                self
            }
            fn clients(self: std::sync::Arc<Self>) -> std::sync::Arc<dyn durin_core::ClientStore> {
                self
            }
            fn admin(
                self: std::sync::Arc<Self>,
            ) -> Option<std::sync::Arc<dyn durin_core::SessionAdmin>> {
                Some(self)
            }
            fn settings(
                self: std::sync::Arc<Self>,
            ) -> Option<std::sync::Arc<dyn durin_core::SettingsStore>> {
                Some(self)
            }
            fn throttle(self: std::sync::Arc<Self>) -> Option<std::sync::Arc<dyn durin_core::Throttle>> {
                Some(self)
            }
            fn attempts(
                self: std::sync::Arc<Self>,
            ) -> Option<std::sync::Arc<dyn durin_core::AttemptLimiter>> {
                Some(self)
            }
            fn channel(
                self: std::sync::Arc<Self>,
            ) -> Option<std::sync::Arc<dyn durin_core::InvalidationChannel>> {
                Some(std::sync::Arc::new(<$store>::channel(&self)))
            }
            fn leases(self: std::sync::Arc<Self>) -> Option<std::sync::Arc<dyn durin_core::Leases>> {
                Some(self)
            }
            fn housekeeping(
                self: std::sync::Arc<Self>,
            ) -> Option<std::sync::Arc<dyn durin_core::Housekeeping>> {
                Some(self)
            }
            fn import(
                self: std::sync::Arc<Self>,
            ) -> Option<std::sync::Arc<dyn durin_core::SessionImport>> {
                Some(self)
            }
            fn has_migrations(&self) -> bool {
                true
            }
            async fn migrate(&self) -> Result<(), durin_core::StoreError> {
                <$store>::migrate(self).await
            }
            async fn close(&self) {
                <$store>::close(self).await;
            }
        }
    };
}
pub(crate) use impl_sql_store;
