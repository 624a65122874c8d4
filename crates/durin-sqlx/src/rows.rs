//! Session and client rows: the columns, decoding them (refusing anything malformed) and
//! the statements the token and admin code share.

use durin_core::{
    Client, ClientName, RefreshState, Removal, Session, SessionId, StoreError, Timestamp,
    TokenDigest, TokenName, Transport, UserId,
};
use sqlx::Executor;

use crate::dialect::{Arg as _, Dialect, get};
use crate::error::map;

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
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("column {column}: {e}")))
}

/// Encodes a value as JSON text for a column.
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(StoreError::backend)
}

/// Decodes a stored digest (32 bytes).
fn digest(column: &str, bytes: &[u8]) -> Result<TokenDigest, StoreError> {
    TokenDigest::from_slice(bytes).ok_or_else(|| {
        StoreError::Corrupt(format!("column {column}: {} bytes, not 32", bytes.len()))
    })
}

/// The raw columns of one session row, decoded by [`decode_session`].
struct SessionRow {
    id: String,
    digest: Vec<u8>,
    user_id: String,
    client: String,
    created_at: i64,
    expires_at: Option<i64>,
    renewed_at: Option<i64>,
    last_used_at: Option<i64>,
    scopes: String,
    context: String,
    transport: String,
    revoked_at: Option<i64>,
    refresh_digest: Option<Vec<u8>>,
    refresh_expires_at: Option<i64>,
    name: Option<String>,
}

/// Turns a row's columns into a [`Session`], refusing anything malformed.
fn decode_session(row: SessionRow) -> Result<Session, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(what.to_owned());
    let refresh = match (row.refresh_digest, row.refresh_expires_at) {
        (Some(d), Some(at)) => Some(RefreshState {
            digest: digest("refresh_digest", &d)?,
            expires_at: Timestamp::from_millis(at),
        }),
        (None, None) => None,
        _ => return Err(corrupt("refresh_digest and refresh_expires_at disagree")),
    };
    Ok(Session {
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
            .map(TokenName::new)
            .transpose()
            .map_err(|_| corrupt("name"))?,
    })
}

/// Decodes a stored client policy.
pub(crate) fn decode_client(format: i32, policy: &str) -> Result<Client, StoreError> {
    if format != CLIENT_FORMAT {
        return Err(StoreError::Corrupt(format!(
            "client policy format {format}; this version of durin-sqlx reads {CLIENT_FORMAT}"
        )));
    }
    json("policy", policy)
}

/// Reads a session row (columns in [`session_columns!`] order).
pub(crate) fn session<D: Dialect>(row: &D::Row) -> Result<Session, StoreError> {
    decode_session(SessionRow {
        id: get::<D, _>(row, 0)?,
        digest: get::<D, _>(row, 1)?,
        user_id: get::<D, _>(row, 2)?,
        client: get::<D, _>(row, 3)?,
        created_at: get::<D, _>(row, 4)?,
        expires_at: get::<D, _>(row, 5)?,
        renewed_at: get::<D, _>(row, 6)?,
        last_used_at: get::<D, _>(row, 7)?,
        scopes: get::<D, _>(row, 8)?,
        context: get::<D, _>(row, 9)?,
        transport: get::<D, _>(row, 10)?,
        revoked_at: get::<D, _>(row, 11)?,
        refresh_digest: get::<D, _>(row, 12)?,
        refresh_expires_at: get::<D, _>(row, 13)?,
        name: get::<D, _>(row, 14)?,
    })
}

/// Reads session rows.
pub(crate) fn sessions<D: Dialect>(rows: &[D::Row]) -> Result<Vec<Session>, StoreError> {
    rows.iter().map(session::<D>).collect()
}

/// Inserts one session.
pub(crate) async fn insert_row<'e, D: Dialect>(
    executor: impl Executor<'e, Database = D>,
    s: &Session,
) -> Result<(), StoreError> {
    sqlx::query(concat!(
        "INSERT INTO durin_sessions (",
        session_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
    ))
    .arg_str(s.id.as_str())
    .arg_bytes(&s.digest.as_bytes()[..])
    .arg_str(s.user_id.as_str())
    .arg_str(s.client.as_str())
    .arg(s.created_at.as_millis())
    .arg(s.expires_at.map(Timestamp::as_millis))
    .arg(s.renewed_at.map(Timestamp::as_millis))
    .arg(s.last_used_at.map(Timestamp::as_millis))
    .arg(to_json(&s.scopes)?)
    .arg(to_json(&s.context)?)
    .arg_str(s.transport.as_str())
    .arg(s.revoked_at.map(Timestamp::as_millis))
    .arg(s.refresh.as_ref().map(|r| r.digest.as_bytes().to_vec()))
    .arg(s.refresh.as_ref().map(|r| r.expires_at.as_millis()))
    .arg_opt_str(s.name.as_ref().map(TokenName::as_str))
    .execute(executor)
    .await
    .map_err(map)?;
    Ok(())
}

/// Removes one session; returns it as it was, or `None` when it was gone (or, when
/// revoking, already revoked).
pub(crate) async fn remove<'e, D: Dialect>(
    executor: impl Executor<'e, Database = D>,
    id: &SessionId,
    how: Removal,
) -> Result<Option<Session>, StoreError> {
    let row = match how {
        Removal::Delete => {
            sqlx::query(concat!(
                "DELETE FROM durin_sessions WHERE id = $1 RETURNING ",
                session_columns!()
            ))
            .arg_str(id.as_str())
            .fetch_optional(executor)
            .await
        }
        Removal::Revoke { at } => {
            sqlx::query(concat!(
                "UPDATE durin_sessions SET revoked_at = $2 \
                 WHERE id = $1 AND revoked_at IS NULL RETURNING ",
                session_columns!()
            ))
            .arg_str(id.as_str())
            .arg(at.as_millis())
            .fetch_optional(executor)
            .await
        }
    }
    .map_err(map)?;
    let Some(row) = row else { return Ok(None) };
    let mut session = self::session::<D>(&row)?;
    // "As it was": before this call it was not revoked.
    session.revoked_at = None;
    Ok(Some(session))
}
