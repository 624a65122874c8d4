//! `CachedTokenStore`: a moka cache in front of any token store, keyed by digest, with
//! immediate invalidation.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use moka::Expiry;
use moka::sync::Cache;

use crate::{
    Clock, InsertPolicy, Invalidation, InvalidationChannel, RefreshLookup, Removal, Rotation,
    Session, SessionId, StoreError, SystemClock, Timestamp, TokenDigest, TokenStore, UserId,
};

/// Settings of a [`CachedTokenStore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheConfig {
    /// The most sessions held. Default: 100,000.
    pub max_capacity: u64,
    /// The longest an entry lives, whatever its session's expiry: the bound on staleness
    /// for changes made by other nodes when no invalidation channel reaches this one.
    /// Default: 60 seconds.
    pub ttl: Duration,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            max_capacity: 100_000,
            ttl: Duration::from_secs(60),
        }
    }
}

/// A token store with an in-process cache of sessions, keyed by token digest (never by
/// the token).
///
/// - Reads (`get`) are served from the cache; misses hydrate it.
/// - Every write that ends or changes a session on this node — logout, logout-all,
///   revoke, eviction at login, renewal, rotation, re-keying, last-use — invalidates its
///   entry at once, so a logged-out token is refused on the very next request (unlike
///   django-rest-durin's cache, which accepts it for its whole timeout).
/// - An entry lives at most [`CacheConfig::ttl`], and never past its session's expiry.
/// - With an [`InvalidationChannel`], invalidations are published to other nodes, which
///   feed them to [`CachedTokenStore::apply`].
///
/// A read that races an invalidation cannot put a stale session back: every
/// invalidation bumps an epoch, and a read that saw the epoch move while it was at the
/// store drops what it cached.
pub struct CachedTokenStore<S> {
    inner: S,
    cache: Cache<TokenDigest, Arc<Session>>,
    ids: Cache<SessionId, TokenDigest>,
    epoch: AtomicU64,
    channel: Option<Arc<dyn InvalidationChannel>>,
}

struct SessionExpiry {
    ceiling: Duration,
    clock: Arc<dyn Clock>,
}

impl SessionExpiry {
    fn lifetime(&self, session: &Session) -> Duration {
        match session.expires_at {
            Some(at) => at.duration_since(self.clock.now()).min(self.ceiling),
            None => self.ceiling,
        }
    }
}

impl Expiry<TokenDigest, Arc<Session>> for SessionExpiry {
    fn expire_after_create(
        &self,
        _key: &TokenDigest,
        value: &Arc<Session>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(self.lifetime(value))
    }

    fn expire_after_update(
        &self,
        _key: &TokenDigest,
        value: &Arc<Session>,
        _updated_at: Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        Some(self.lifetime(value))
    }
}

impl<S: TokenStore> CachedTokenStore<S> {
    /// A cache with default settings in front of `inner`.
    pub fn new(inner: S) -> Self {
        Self::with_config(inner, CacheConfig::default())
    }

    /// A cache with `config` in front of `inner`.
    pub fn with_config(inner: S, config: CacheConfig) -> Self {
        Self::build(inner, config, Arc::new(SystemClock), None)
    }

    /// Publishes this node's invalidations on `channel`.
    #[must_use]
    pub fn with_channel(self, channel: Arc<dyn InvalidationChannel>) -> Self {
        CachedTokenStore {
            channel: Some(channel),
            ..self
        }
    }

    /// Uses `clock` to bound entries by their session's expiry (tests).
    #[must_use]
    pub fn with_clock(self, clock: Arc<dyn Clock>, config: CacheConfig) -> Self {
        Self::build(self.inner, config, clock, self.channel)
    }

    fn build(
        inner: S,
        config: CacheConfig,
        clock: Arc<dyn Clock>,
        channel: Option<Arc<dyn InvalidationChannel>>,
    ) -> Self {
        let cache = Cache::builder()
            .max_capacity(config.max_capacity)
            .expire_after(SessionExpiry {
                ceiling: config.ttl,
                clock,
            })
            .support_invalidation_closures()
            .build();
        let ids = Cache::builder()
            .max_capacity(config.max_capacity)
            .time_to_live(config.ttl)
            .build();
        CachedTokenStore {
            inner,
            cache,
            ids,
            epoch: AtomicU64::new(0),
            channel,
        }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// How many sessions are cached (approximate, as moka counts).
    pub fn cached_len(&self) -> u64 {
        self.cache.entry_count()
    }

    /// Applies an invalidation received from another node.
    pub async fn apply(&self, invalidation: &Invalidation) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        match invalidation {
            Invalidation::Digests(digests) => {
                for digest in digests {
                    self.cache.invalidate(digest);
                }
            }
            Invalidation::User { user, except } => {
                let user = user.clone();
                let except = except.clone();
                let registered = self.cache.invalidate_entries_if(move |_, session| {
                    session.user_id == user && Some(&session.id) != except.as_ref()
                });
                if registered.is_err() {
                    self.cache.invalidate_all();
                }
            }
        }
    }

    /// Forgets everything cached.
    pub fn clear(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.cache.invalidate_all();
    }

    /// Invalidates locally and publishes to other nodes.
    async fn forget(&self, digests: Vec<TokenDigest>) {
        if digests.is_empty() {
            return;
        }
        let invalidation = Invalidation::Digests(digests);
        self.apply(&invalidation).await;
        if let Some(channel) = &self.channel
            && let Err(error) = channel.publish(&invalidation).await
        {
            // The TTL ceiling bounds the staleness on other nodes.
            tracing::warn!(%error, "could not publish a cache invalidation");
        }
    }

    async fn forget_id(&self, id: &SessionId) {
        // Bump the epoch even when the id is unknown here, so that a read in flight
        // for this session does not cache what it found.
        self.epoch.fetch_add(1, Ordering::AcqRel);
        if let Some(digest) = self.ids.get(id) {
            self.forget(vec![digest]).await;
        }
    }
}

impl<S> std::fmt::Debug for CachedTokenStore<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedTokenStore")
            .field("cached", &self.cache.entry_count())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl<S: TokenStore> TokenStore for CachedTokenStore<S> {
    async fn insert(
        &self,
        session: &Session,
        policy: InsertPolicy,
    ) -> Result<Vec<Session>, StoreError> {
        let removed = self.inner.insert(session, policy).await?;
        self.forget(removed.iter().map(|s| s.digest).collect())
            .await;
        Ok(removed)
    }

    async fn get(&self, digest: &TokenDigest) -> Result<Option<Session>, StoreError> {
        if let Some(session) = self.cache.get(digest) {
            return Ok(Some(Session::clone(&session)));
        }
        let epoch = self.epoch.load(Ordering::Acquire);
        let found = self.inner.get(digest).await?;
        if let Some(session) = &found
            && session.revoked_at.is_none()
        {
            self.ids.insert(session.id.clone(), *digest);
            self.cache.insert(*digest, Arc::new(session.clone()));
            if self.epoch.load(Ordering::Acquire) != epoch {
                // An invalidation ran while we were at the store: what we read may be
                // the state it ended. Drop it rather than serve it.
                self.cache.invalidate(digest);
            }
        }
        Ok(found)
    }

    async fn get_by_id(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        self.inner.get_by_id(id).await
    }

    async fn get_by_refresh(
        &self,
        digest: &TokenDigest,
    ) -> Result<Option<RefreshLookup>, StoreError> {
        self.inner.get_by_refresh(digest).await
    }

    async fn list_by_user(&self, user: &UserId) -> Result<Vec<Session>, StoreError> {
        self.inner.list_by_user(user).await
    }

    async fn extend(
        &self,
        id: &SessionId,
        expires_at: Option<Timestamp>,
        renewed_at: Timestamp,
    ) -> Result<Option<Session>, StoreError> {
        let updated = self.inner.extend(id, expires_at, renewed_at).await;
        // Invalidate whatever the outcome (even on error: the write may have landed).
        self.forget_id(id).await;
        if let Ok(Some(session)) = &updated {
            self.forget(vec![session.digest]).await;
        }
        updated
    }

    async fn touch(&self, id: &SessionId, at: Timestamp) -> Result<(), StoreError> {
        let result = self.inner.touch(id, at).await;
        self.forget_id(id).await;
        result
    }

    async fn rekey(
        &self,
        id: &SessionId,
        old: &TokenDigest,
        new: &TokenDigest,
    ) -> Result<bool, StoreError> {
        let result = self.inner.rekey(id, old, new).await;
        self.forget(vec![*old, *new]).await;
        result
    }

    async fn rotate(
        &self,
        id: &SessionId,
        presented: &TokenDigest,
        rotation: &Rotation,
    ) -> Result<Option<Session>, StoreError> {
        let result = self.inner.rotate(id, presented, rotation).await;
        self.forget_id(id).await;
        result
    }

    async fn remove(&self, id: &SessionId, how: Removal) -> Result<Option<Session>, StoreError> {
        let result = self.inner.remove(id, how).await;
        self.forget_id(id).await;
        if let Ok(Some(session)) = &result {
            self.forget(vec![session.digest]).await;
        }
        result
    }

    async fn remove_user(
        &self,
        user: &UserId,
        except: Option<&SessionId>,
        how: Removal,
    ) -> Result<Vec<Session>, StoreError> {
        let result = self.inner.remove_user(user, except, how).await;
        match &result {
            Ok(removed) => {
                self.forget(removed.iter().map(|s| s.digest).collect())
                    .await
            }
            Err(_) => {
                // The write may have partly landed: forget the whole user to be safe.
                self.apply(&Invalidation::User {
                    user: user.clone(),
                    except: except.cloned(),
                })
                .await
            }
        }
        result
    }

    async fn purge_expired(&self, before: Timestamp, batch: u32) -> Result<u64, StoreError> {
        self.inner.purge_expired(before, batch).await
    }
}

#[async_trait]
impl<S: crate::SessionAdmin + TokenStore> crate::SessionAdmin for CachedTokenStore<S> {
    async fn list_sessions(&self, query: &crate::SessionQuery) -> Result<Vec<Session>, StoreError> {
        self.inner.list_sessions(query).await
    }

    async fn count_client_sessions(&self, client: &crate::ClientName) -> Result<u64, StoreError> {
        self.inner.count_client_sessions(client).await
    }

    async fn remove_client_sessions(&self, client: &crate::ClientName) -> Result<u64, StoreError> {
        let result = self.inner.remove_client_sessions(client).await;
        self.clear();
        result
    }
}

/// A shared store is a store: `Arc<PostgresStore>` can sit under a cache or a service.
#[async_trait]
impl<T: TokenStore + ?Sized> TokenStore for Arc<T> {
    async fn insert(
        &self,
        session: &Session,
        policy: InsertPolicy,
    ) -> Result<Vec<Session>, StoreError> {
        (**self).insert(session, policy).await
    }
    async fn get(&self, digest: &TokenDigest) -> Result<Option<Session>, StoreError> {
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
