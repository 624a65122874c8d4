//! The storage traits every backend implements, and their one error type.
//!
//! Each method is one atomic operation on the backend, shaped so that SQL can do it in
//! one statement or transaction and Redis in one Lua script: "insert this session and
//! evict the oldest of this (user, client) beyond N" is one call, never check-then-insert.

use std::error::Error as StdError;
use std::sync::Arc;

use async_trait::async_trait;

use crate::{
    Client, ClientName, InsertOutcome, InsertPolicy, Removal, Rotation, Session, SessionId,
    Timestamp, TokenDigest, UserId,
};

/// A boxed error source.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// A store failed. Every variant is the server's fault, never the caller's: the HTTP
/// layers answer 503, never 401.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend cannot be reached: connection refused, timeout, pool closed.
    #[error("store unavailable")]
    Unavailable(#[source] BoxError),
    /// A uniqueness constraint refused the write (a client name that exists, say).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A stored record could not be decoded (a newer format, or corruption).
    #[error("stored record is corrupt: {0}")]
    Corrupt(String),
    /// Any other backend failure.
    #[error("store failure")]
    Backend(#[source] BoxError),
}

impl StoreError {
    /// Wraps a connection-level failure.
    pub fn unavailable(source: impl Into<BoxError>) -> Self {
        StoreError::Unavailable(source.into())
    }

    /// Wraps any other backend failure.
    pub fn backend(source: impl Into<BoxError>) -> Self {
        StoreError::Backend(source.into())
    }

    /// Whether the backend could not be reached (as opposed to answering with an error).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

impl From<crate::ParseError> for StoreError {
    /// A stored value that no longer validates (a user id, a session id, a client name)
    /// is a corrupt record.
    fn from(e: crate::ParseError) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

/// What a refresh-token digest points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshLookup {
    /// The session's current refresh token.
    Current(Box<Session>),
    /// A refresh token that was already rotated away: whoever presents it holds a
    /// stolen or replayed copy, and the whole session must be revoked.
    Rotated(SessionId),
}

/// Where sessions live.
///
/// All methods are atomic on the backend. Implementations run the conformance suites in
/// `durin_core::testing` (feature `testing`) to prove it.
#[async_trait]
pub trait TokenStore: Send + Sync + 'static {
    /// Inserts `session` under `policy`, in one atomic step: reads the user's sessions,
    /// asks [`crate::plan_insert`] what to remove (or whether to refuse), removes it and
    /// inserts. Concurrent inserts never leave more than `policy.max_live` live sessions
    /// per (user, client), nor two live sessions of one user with one name.
    ///
    /// # Errors
    /// [`StoreError`] when the backend fails (nothing is inserted then);
    /// [`StoreError::Conflict`] when the session's id or digest exists.
    async fn insert(
        &self,
        session: &Session,
        policy: InsertPolicy,
    ) -> Result<InsertOutcome, StoreError>;

    /// The session whose token has `digest` (revoked and expired ones included: the
    /// service decides what they mean).
    ///
    /// # Errors
    /// [`StoreError`] when the backend fails.
    async fn get(&self, digest: &TokenDigest) -> Result<Option<Arc<Session>>, StoreError>;

    /// The session with public id `id`.
    ///
    /// # Errors
    /// [`StoreError`] when the backend fails.
    async fn get_by_id(&self, id: &SessionId) -> Result<Option<Session>, StoreError>;

    /// What a refresh-token digest points at.
    ///
    /// # Errors
    /// [`StoreError`] when the backend fails.
    async fn get_by_refresh(
        &self,
        digest: &TokenDigest,
    ) -> Result<Option<RefreshLookup>, StoreError>;

    /// Every session of `user`, oldest first, revoked and expired ones included.
    ///
    /// # Errors
    /// [`StoreError`] when the backend fails.
    async fn list_by_user(&self, user: &UserId) -> Result<Vec<Session>, StoreError>;

    /// Moves the expiry of a session that is still present and not revoked. Returns the
    /// updated session, or `None` when it is gone or revoked: a renewal racing a revoke
    /// never brings the session back.
    ///
    /// # Errors
    /// [`StoreError`] when the backend fails.
    async fn extend(
        &self,
        id: &SessionId,
        expires_at: Option<Timestamp>,
        renewed_at: Timestamp,
    ) -> Result<Option<Session>, StoreError>;

    /// Records a use of the session (`last_used_at`); a no-op when it is gone.
    ///
    /// # Errors
    /// [`StoreError`] when the backend fails.
    async fn touch(&self, id: &SessionId, at: Timestamp) -> Result<(), StoreError>;

    /// Replaces the session's digest with `new` if it still is `old` (key rotation:
    /// re-digesting under the current key). Returns whether it did.
    ///
    /// # Errors
    /// [`StoreError`] when the backend fails.
    async fn rekey(
        &self,
        id: &SessionId,
        old: &TokenDigest,
        new: &TokenDigest,
    ) -> Result<bool, StoreError>;

    /// Rotates the session's access and refresh tokens ([`Rotation::apply`]) if
    /// [`Rotation::applies_to`] it with `presented`; the presented digest is remembered
    /// as rotated, so a later reuse is recognised. Returns the updated session, or
    /// `None` when the refresh digest is no longer current (a racing rotation won), the
    /// session was revoked, or it is gone.
    ///
    /// # Errors
    /// [`StoreError`] when the backend fails.
    async fn rotate(
        &self,
        id: &SessionId,
        presented: &TokenDigest,
        rotation: &Rotation,
    ) -> Result<Option<Session>, StoreError>;

    /// Removes one session. Returns it as it was, or `None` when it was already gone
    /// (or, with [`Removal::Revoke`], already revoked).
    ///
    /// # Errors
    /// [`StoreError`] when the backend fails.
    async fn remove(&self, id: &SessionId, how: Removal) -> Result<Option<Session>, StoreError>;

    /// Removes every session of `user` except `except`, all clients. Returns the
    /// sessions removed. A login that races it either lands before (and is removed) or
    /// after (and survives): never a session issued before the call survives it.
    ///
    /// # Errors
    /// [`StoreError`] when the backend fails.
    async fn remove_user(
        &self,
        user: &UserId,
        except: Option<&SessionId>,
        how: Removal,
    ) -> Result<Vec<Session>, StoreError>;

    /// Deletes up to `batch` sessions whose access token expired before `before` and whose
    /// refresh token (if any) expired before it too, and sessions revoked before it, with
    /// their rotated refresh digests. Returns how many it deleted; the
    /// caller loops while the result equals `batch`.
    ///
    /// # Errors
    /// [`StoreError`] when the backend fails.
    async fn purge_expired(&self, before: Timestamp, batch: u32) -> Result<u64, StoreError>;
}

/// The synchronous hit path of a token cache, which the service tries before any store
/// call ([`crate::DurinBuilder::hit_path`]; [`crate::Node`] wires it; `CachedTokenStore` is one).
pub trait CacheLookup: Send + Sync + 'static {
    /// The session whose token has `digest` if the cache holds it and may answer now.
    /// `None` means "ask the store", never "no such session".
    fn get_cached(&self, digest: &TokenDigest) -> Option<Arc<Session>>;
}

/// Named leases that nodes sharing a store take turns on (the expired-session purge: one
/// node per lease). An optional ability of a [`crate::Backend`]: without it every node
/// runs the purge, which is safe because a purge is idempotent.
#[async_trait]
pub trait Leases: Send + Sync + 'static {
    /// Takes or renews the lease `name` for `holder` until `now + ttl`, in one atomic
    /// step: it succeeds when nobody holds the lease, when it has expired (its expiry is
    /// at or before `now`), or when `holder` already holds it. Returns whether `holder`
    /// holds it now.
    ///
    /// # Errors
    /// [`StoreError`] when the backend fails (then the lease is not taken).
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
        now: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Gives the lease `name` back if `holder` holds it (another holder's lease is left
    /// alone), so another node may take it at once instead of after its expiry.
    ///
    /// # Errors
    /// [`StoreError`] when the backend fails (the lease then ends at its expiry).
    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError>;
}

/// Adds many sessions brought over from another system (`durin import`, `durin store
/// copy`) at once. An optional ability of a [`crate::Backend`]: without it,
/// [`import_each`] inserts them one at a time through [`TokenStore::insert`].
#[async_trait]
pub trait SessionImport: Send + Sync + 'static {
    /// Inserts each session unless a session with its id or digest exists (skipped: a
    /// rerun imports nothing twice); no insert policy applies (nothing is evicted).
    /// Returns how many were inserted.
    ///
    /// # Errors
    /// [`StoreError`] when the backend fails (sessions inserted before stay).
    async fn import_sessions(
        &self,
        sessions: &[Session],
        now: Timestamp,
    ) -> Result<u64, StoreError>;
}

/// [`SessionImport::import_sessions`] for any [`TokenStore`]: one
/// [`TokenStore::insert`] per session, without a cap and without evicting anything;
/// a session whose id or digest exists is skipped.
///
/// # Errors
/// [`StoreError`] when the backend fails (sessions inserted before stay).
pub async fn import_each(
    store: &dyn TokenStore,
    sessions: &[Session],
    now: Timestamp,
) -> Result<u64, StoreError> {
    let policy = InsertPolicy {
        max_live: std::num::NonZeroU32::MAX,
        when_full: crate::WhenFull::Refuse,
        single_login: false,
        removal: Removal::Delete,
        now,
    };
    let mut inserted = 0;
    for session in sessions {
        match store.insert(session, policy).await {
            Ok(InsertOutcome::Inserted { .. }) => inserted += 1,
            Ok(_) | Err(StoreError::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(inserted)
}

/// Where clients live.
#[async_trait]
pub trait ClientStore: Send + Sync + 'static {
    /// The client called `name`.
    ///
    /// # Errors
    /// [`StoreError`] when the backend fails.
    async fn get_client(&self, name: &ClientName) -> Result<Option<Client>, StoreError>;

    /// Every client, by name.
    ///
    /// # Errors
    /// [`StoreError`] when the backend fails.
    async fn list_clients(&self) -> Result<Vec<Client>, StoreError>;

    /// Adds a new client.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when a client of that name exists.
    async fn create_client(&self, client: &Client) -> Result<(), StoreError>;

    /// Creates the client, or replaces the policy of the existing one of that name.
    ///
    /// # Errors
    /// [`StoreError`] when the backend fails.
    async fn upsert_client(&self, client: &Client) -> Result<(), StoreError>;

    /// Deletes a client. Returns whether it existed. Its sessions are not touched here:
    /// they stop authenticating because their client is gone; the service removes them.
    ///
    /// # Errors
    /// [`StoreError`] when the backend fails.
    async fn delete_client(&self, name: &ClientName) -> Result<bool, StoreError>;
}

/// A page request for [`SessionAdmin::list_sessions`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionQuery {
    /// Only this user's sessions.
    pub user: Option<UserId>,
    /// Only this client's sessions.
    pub client: Option<ClientName>,
    /// Keyset cursor: only sessions whose id sorts after this one.
    pub after: Option<SessionId>,
    /// The most sessions to return.
    pub limit: u32,
}

/// Administration over all sessions (the `durin` CLI): listing by page, counting.
///
/// Pages are ordered by session id and use keyset pagination (`after` = the last id of
/// the previous page), so listing stays fast with millions of sessions: no `OFFSET`.
#[async_trait]
pub trait SessionAdmin: Send + Sync + 'static {
    /// One page of sessions matching `query`, ordered by id, revoked and expired ones
    /// included.
    ///
    /// # Errors
    /// [`StoreError`] when the backend fails.
    async fn list_sessions(&self, query: &SessionQuery) -> Result<Vec<Session>, StoreError>;

    /// How many sessions (revoked and expired included) belong to `client`.
    ///
    /// # Errors
    /// [`StoreError`] when the backend fails.
    async fn count_client_sessions(&self, client: &ClientName) -> Result<u64, StoreError>;

    /// Deletes every session of `client` (before deleting the client). Returns how many.
    ///
    /// # Errors
    /// [`StoreError`] when the backend fails.
    async fn remove_client_sessions(&self, client: &ClientName) -> Result<u64, StoreError>;
}

/// A JSON object of settings per (user, client): theme, display name, avatar...
/// (django-rest-durin issue #7). Kept apart from sessions: it survives logout, logout-all
/// and re-login through the same client, and each client has its own.
#[async_trait]
pub trait SettingsStore: Send + Sync + 'static {
    /// The settings of `user` for `client`; `None` when none were stored.
    ///
    /// # Errors
    /// [`StoreError`] when the backend fails.
    async fn get_settings(
        &self,
        user: &UserId,
        client: &ClientName,
    ) -> Result<Option<serde_json::Map<String, serde_json::Value>>, StoreError>;

    /// Replaces the settings of `user` for `client` (one atomic write).
    ///
    /// # Errors
    /// [`StoreError`] when the backend fails; the previous settings stay then.
    async fn put_settings(
        &self,
        user: &UserId,
        client: &ClientName,
        settings: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), StoreError>;

    /// Deletes the settings of `user` for `client`. Returns whether there were any.
    ///
    /// # Errors
    /// [`StoreError`] when the backend fails.
    async fn delete_settings(&self, user: &UserId, client: &ClientName)
    -> Result<bool, StoreError>;

    /// One page of every stored settings object, ordered by (user, client) in the
    /// backend's order, starting after `after` (keyset pagination: pass the last entry of
    /// the previous page); at most `limit` entries. `durin store copy` walks it.
    ///
    /// # Errors
    /// [`StoreError`] when the backend fails.
    async fn list_settings(
        &self,
        after: Option<(&UserId, &ClientName)>,
        limit: u32,
    ) -> Result<Vec<SettingsEntry>, StoreError>;
}

/// The settings of one (user, client), as [`SettingsStore::list_settings`] pages them.
#[derive(Debug, Clone, PartialEq)]
pub struct SettingsEntry {
    /// Whose settings.
    pub user: UserId,
    /// For which client.
    pub client: ClientName,
    /// The JSON object.
    pub settings: serde_json::Map<String, serde_json::Value>,
}

/// [`SettingsStore::list_settings`] over entries held in memory: sorts by (user,
/// client), keeps those after `after`, and the first `limit`.
pub fn settings_page(
    mut entries: Vec<SettingsEntry>,
    after: Option<(&UserId, &ClientName)>,
    limit: u32,
) -> Vec<SettingsEntry> {
    entries.retain(|e| after.is_none_or(|(u, c)| (&e.user, &e.client) > (u, c)));
    entries.sort_by(|a, b| (&a.user, &a.client).cmp(&(&b.user, &b.client)));
    entries.truncate(limit as usize);
    entries
}

/// A shared store is a store: `Arc<PostgresStore>` can sit under a cache or a service.
#[async_trait]
impl<T: TokenStore + ?Sized> TokenStore for Arc<T> {
    async fn insert(
        &self,
        session: &Session,
        policy: InsertPolicy,
    ) -> Result<InsertOutcome, StoreError> {
        (**self).insert(session, policy).await
    }
    async fn get(&self, digest: &TokenDigest) -> Result<Option<Arc<Session>>, StoreError> {
        (**self).get(digest).await
    }
    async fn get_by_id(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        (**self).get_by_id(id).await
    }
    async fn get_by_refresh(
        &self,
        digest: &TokenDigest,
    ) -> Result<Option<RefreshLookup>, StoreError> {
        (**self).get_by_refresh(digest).await
    }
    async fn list_by_user(&self, user: &UserId) -> Result<Vec<Session>, StoreError> {
        (**self).list_by_user(user).await
    }
    async fn extend(
        &self,
        id: &SessionId,
        expires_at: Option<Timestamp>,
        renewed_at: Timestamp,
    ) -> Result<Option<Session>, StoreError> {
        (**self).extend(id, expires_at, renewed_at).await
    }
    async fn touch(&self, id: &SessionId, at: Timestamp) -> Result<(), StoreError> {
        (**self).touch(id, at).await
    }
    async fn rekey(
        &self,
        id: &SessionId,
        old: &TokenDigest,
        new: &TokenDigest,
    ) -> Result<bool, StoreError> {
        (**self).rekey(id, old, new).await
    }
    async fn rotate(
        &self,
        id: &SessionId,
        presented: &TokenDigest,
        rotation: &Rotation,
    ) -> Result<Option<Session>, StoreError> {
        (**self).rotate(id, presented, rotation).await
    }
    async fn remove(&self, id: &SessionId, how: Removal) -> Result<Option<Session>, StoreError> {
        (**self).remove(id, how).await
    }
    async fn remove_user(
        &self,
        user: &UserId,
        except: Option<&SessionId>,
        how: Removal,
    ) -> Result<Vec<Session>, StoreError> {
        (**self).remove_user(user, except, how).await
    }
    async fn purge_expired(&self, before: Timestamp, batch: u32) -> Result<u64, StoreError> {
        (**self).purge_expired(before, batch).await
    }
}

#[async_trait]
impl<T: ClientStore + ?Sized> ClientStore for Arc<T> {
    async fn get_client(&self, name: &ClientName) -> Result<Option<Client>, StoreError> {
        (**self).get_client(name).await
    }
    async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
        (**self).list_clients().await
    }
    async fn create_client(&self, client: &Client) -> Result<(), StoreError> {
        (**self).create_client(client).await
    }
    async fn upsert_client(&self, client: &Client) -> Result<(), StoreError> {
        (**self).upsert_client(client).await
    }
    async fn delete_client(&self, name: &ClientName) -> Result<bool, StoreError> {
        (**self).delete_client(name).await
    }
}
