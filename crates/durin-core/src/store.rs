//! The storage traits every backend implements, and their one error type.
//!
//! Each method is one atomic operation on the backend, shaped so that SQL can do it in
//! one statement or transaction and Redis in one Lua script: "insert this session and
//! evict the oldest of this (user, client) beyond N" is one call, never check-then-insert.

use std::error::Error as StdError;

use async_trait::async_trait;

use crate::{Client, ClientName, Session, SessionId, Timestamp, TokenDigest, UserId};

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

/// What removing a session means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// Delete the record.
    Delete,
    /// Audit mode: keep the record with `revoked_at` set, so it never authenticates
    /// again but stays listed for audit until purged.
    Revoke {
        /// The revocation time to record.
        at: Timestamp,
    },
}

/// The policy of one insert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InsertPolicy {
    /// After the insert, the (user, client) pair keeps at most this many live sessions
    /// (the new one included); the oldest others are removed.
    pub max_per_client: u32,
    /// Remove every other session of the user, all clients (single-login).
    pub single_login: bool,
    /// How removed sessions are removed.
    pub removal: Removal,
    /// "Now", to tell live sessions from expired ones when counting.
    pub now: Timestamp,
}

/// The new credentials of a session after a refresh-token rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// Digest of the new access token.
    pub digest: TokenDigest,
    /// Digest of the new refresh token.
    pub refresh_digest: TokenDigest,
    /// Expiry of the new refresh token.
    pub refresh_expires_at: Timestamp,
    /// New expiry of the access token.
    pub expires_at: Option<Timestamp>,
    /// The rotation time (recorded as `renewed_at`).
    pub at: Timestamp,
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
    /// Inserts `session` and, in the same atomic step, removes the oldest live sessions
    /// of its (user, client) beyond `policy.max_per_client` (and, with
    /// `policy.single_login`, every other session of the user). Returns the sessions it
    /// removed. Concurrent inserts never leave more than `max_per_client` live sessions.
    ///
    /// # Errors
    /// [`StoreError`] when the backend fails; nothing is inserted then.
    async fn insert(
        &self,
        session: &Session,
        policy: InsertPolicy,
    ) -> Result<Vec<Session>, StoreError>;

    /// The session whose token has `digest` (revoked and expired ones included: the
    /// service decides what they mean).
    ///
    /// # Errors
    /// [`StoreError`] when the backend fails.
    async fn get(&self, digest: &TokenDigest) -> Result<Option<Session>, StoreError>;

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

    /// Rotates the session's access and refresh tokens if its current refresh digest is
    /// still `presented`; the presented digest is remembered as rotated, so a later
    /// reuse is recognised. Returns the updated session, or `None` when the refresh
    /// digest is no longer current (a racing rotation won) or the session is gone.
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

/// A cache-invalidation message: what other nodes must forget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalidation {
    /// The sessions with these digests changed or ended.
    Digests(Vec<TokenDigest>),
    /// Every session of this user ended (logout-all), except the given one.
    User {
        /// The user.
        user: UserId,
        /// The session that survived, if any.
        except: Option<SessionId>,
    },
}

/// Carries invalidations to other nodes' caches (Redis pub/sub, Postgres NOTIFY...).
///
/// [`crate::CachedTokenStore`] publishes every invalidation it performs; a subscriber
/// task on each node feeds what it receives into [`crate::CachedTokenStore::apply`].
/// If the channel is down, the cache's TTL ceiling bounds staleness.
#[async_trait]
pub trait InvalidationChannel: Send + Sync + 'static {
    /// Publishes an invalidation to the other nodes.
    ///
    /// # Errors
    /// [`StoreError`] when the channel fails; the cache logs it and goes on.
    async fn publish(&self, invalidation: &Invalidation) -> Result<(), StoreError>;
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
