//! `CachedTokenStore`: a moka cache in front of any token store, keyed by digest, with
//! immediate invalidation on this node and, through an [`InvalidationBus`], on every node.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use moka::Expiry;
use moka::sync::Cache;

use crate::{
    ClientName, Clock, InsertOutcome, InsertPolicy, Invalidation, InvalidationBus,
    InvalidationSink, RefreshLookup, Removal, Rotation, Session, SessionAdmin, SessionId,
    SessionQuery, StoreError, SystemClock, Timestamp, TokenDigest, TokenStore, UserId,
};

/// Settings of a [`CachedTokenStore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheConfig {
    /// The most sessions held. Default: 100,000.
    pub max_capacity: u64,
    /// The longest an entry lives, whatever its session's expiry: the last bound on
    /// staleness, for a change whose invalidation never arrived. Default: 60 seconds.
    /// Zero turns caching off: every read goes to the store, and the store's writes are
    /// still published to the other nodes.
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
/// - Reads (`get`) are served from the cache; misses hydrate it. A hit hands out the
///   cached `Arc<Session>`: nothing is cloned.
/// - Every write that ends or changes a session — logout, logout-all, revoke, eviction
///   at login, renewal, rotation, re-keying — invalidates its entry at once (once per
///   change), so a logged-out token is refused on the very next request (unlike
///   django-rest-durin's cache, which accepts it for its whole timeout).
/// - With an [`InvalidationBus`] ([`CachedTokenStore::with_bus`]) the same
///   invalidations are published to every other node before the write returns, and
///   theirs are applied here. While the bus has no live subscription, the cache is
///   bypassed (every read goes to the store); when one is live again, it is flushed.
/// - An entry lives at most [`CacheConfig::ttl`], and never past its session's expiry.
///
/// A read that races an invalidation cannot put a stale session back: every
/// invalidation bumps an epoch, and a read that saw the epoch move while it was at the
/// store drops what it cached.
pub struct CachedTokenStore<S> {
    inner: S,
    state: Arc<CacheState>,
    config: CacheConfig,
    bus: Option<Arc<InvalidationBus>>,
}

/// What the cache shares with the bus's subscriber.
struct CacheState {
    sessions: Cache<TokenDigest, Arc<Session>, DigestHashing>,
    /// Session id -> digest, to invalidate by id (a revoke by id of a session whose
    /// digest this node has cached).
    ids: Cache<SessionId, TokenDigest>,
    epoch: AtomicU64,
    /// False while the bus has no live subscription: reads bypass the cache.
    trusted: AtomicBool,
    /// False when the configuration turns caching off (a zero TTL or capacity).
    enabled: bool,
    hits: metrics::Counter,
    misses: metrics::Counter,
}

/// Hashes a [`TokenDigest`] by taking 8 of its bytes: the digest is already a keyed
/// HMAC output, uniform and unpredictable without the key, so a general-purpose hash of
/// it (SipHash by default) only adds time to every cache hit, and an attacker who cannot
/// compute digests cannot aim collisions at one bucket.
#[derive(Clone, Copy, Default)]
struct DigestHashing;

impl std::hash::BuildHasher for DigestHashing {
    type Hasher = DigestHasher;

    fn build_hasher(&self) -> DigestHasher {
        DigestHasher(0)
    }
}

/// See [`DigestHashing`].
#[derive(Default)]
struct DigestHasher(u64);

impl std::hash::Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // `[u8; 32]` hashes as its length, then its bytes: the bytes carry the entropy.
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(word);
        }
    }
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

impl CacheState {
    fn new(config: CacheConfig, clock: Arc<dyn Clock>) -> Self {
        CacheState {
            sessions: Cache::builder()
                .max_capacity(config.max_capacity)
                .expire_after(SessionExpiry {
                    ceiling: config.ttl,
                    clock,
                })
                .support_invalidation_closures()
                .build_with_hasher(DigestHashing),
            ids: Cache::builder()
                .max_capacity(config.max_capacity)
                .time_to_live(config.ttl)
                .build(),
            epoch: AtomicU64::new(0),
            trusted: AtomicBool::new(true),
            enabled: !config.ttl.is_zero() && config.max_capacity > 0,
            hits: metrics::counter!("durin_token_cache_requests_total", "result" => "hit"),
            misses: metrics::counter!("durin_token_cache_requests_total", "result" => "miss"),
        }
    }

    fn bump(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    fn clear(&self) {
        self.bump();
        self.sessions.invalidate_all();
        self.ids.invalidate_all();
    }
}

impl InvalidationSink for CacheState {
    fn apply(&self, invalidation: &Invalidation) {
        self.bump();
        match invalidation {
            Invalidation::Digests(digests) => {
                for digest in digests {
                    self.sessions.invalidate(digest);
                }
            }
            Invalidation::User { user, except } => {
                let user = user.clone();
                let except = except.clone();
                let registered = self.sessions.invalidate_entries_if(move |_, session| {
                    session.user_id == user && Some(&session.id) != except.as_ref()
                });
                if registered.is_err() {
                    self.sessions.invalidate_all();
                }
            }
            Invalidation::All => self.clear(),
            // Client policies are not cached here.
            Invalidation::Client(_) => {}
        }
    }

    fn suspend(&self) {
        self.trusted.store(false, Ordering::Release);
        self.clear();
    }

    fn resume(&self) {
        self.clear();
        self.trusted.store(true, Ordering::Release);
    }
}

impl<S: TokenStore> CachedTokenStore<S> {
    /// A cache with default settings in front of `inner`.
    pub fn new(inner: S) -> Self {
        Self::with_config(inner, CacheConfig::default())
    }

    /// A cache with `config` in front of `inner`.
    pub fn with_config(inner: S, config: CacheConfig) -> Self {
        CachedTokenStore {
            inner,
            state: Arc::new(CacheState::new(config, Arc::new(SystemClock))),
            config,
            bus: None,
        }
    }

    /// Bounds entries by their session's expiry as `clock` tells it. Default:
    /// [`SystemClock`].
    #[must_use]
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> Self {
        let state = Arc::new(CacheState::new(self.config, clock));
        if let Some(bus) = &self.bus {
            bus.register(state.clone());
        }
        CachedTokenStore { state, ..self }
    }

    /// Publishes this node's invalidations on `bus` and applies other nodes' (the cache
    /// registers with the bus, and is bypassed until its subscription is live). Default:
    /// none (one process).
    #[must_use]
    pub fn with_bus(self, bus: &Arc<InvalidationBus>) -> Self {
        bus.register(self.state.clone());
        CachedTokenStore {
            bus: Some(bus.clone()),
            ..self
        }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// How many sessions are cached (approximate, as moka counts).
    pub fn cached_len(&self) -> u64 {
        self.state.sessions.entry_count()
    }

    /// Whether reads are served from the cache now (false while the bus's subscription
    /// is down).
    pub fn is_trusted(&self) -> bool {
        self.state.trusted.load(Ordering::Acquire)
    }

    /// Applies an invalidation here (what the bus does for other nodes' messages).
    pub fn apply(&self, invalidation: &Invalidation) {
        self.state.apply(invalidation);
    }

    /// Forgets everything cached here.
    pub fn clear(&self) {
        self.state.clear();
    }

    /// Invalidates here, then publishes to the other nodes.
    /// Forgets every cached session here and on every node (after a bulk change made
    /// outside this cache, such as deleting a client's sessions).
    pub async fn forget_all(&self) {
        self.forget(Invalidation::All).await;
    }

    async fn forget(&self, invalidation: Invalidation) {
        if matches!(&invalidation, Invalidation::Digests(d) if d.is_empty()) {
            return;
        }
        self.state.apply(&invalidation);
        if let Some(bus) = &self.bus {
            bus.publish(&invalidation).await;
        }
    }

    /// Forgets one session: by its known digest and by whatever digest this node cached
    /// for its id (the store may have changed it meanwhile).
    async fn forget_session(&self, id: &SessionId, known: &[TokenDigest]) {
        let mut digests = known.to_vec();
        if let Some(cached) = self.state.ids.get(id)
            && !digests.contains(&cached)
        {
            digests.push(cached);
        }
        self.state.ids.invalidate(id);
        if digests.is_empty() {
            // Bump anyway: a read in flight for this session must not cache it.
            self.state.bump();
            return;
        }
        self.forget(Invalidation::Digests(digests)).await;
    }
}

impl<S> std::fmt::Debug for CachedTokenStore<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedTokenStore")
            .field("cached", &self.state.sessions.entry_count())
            .field("trusted", &self.state.trusted.load(Ordering::Relaxed))
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl<S: TokenStore> TokenStore for CachedTokenStore<S> {
    async fn insert(
        &self,
        session: &Session,
        policy: InsertPolicy,
    ) -> Result<InsertOutcome, StoreError> {
        let outcome = self.inner.insert(session, policy).await?;
        if let InsertOutcome::Inserted { removed } = &outcome {
            for old in removed {
                self.state.ids.invalidate(&old.id);
            }
            self.forget(Invalidation::Digests(
                removed.iter().map(|s| s.digest).collect(),
            ))
            .await;
        }
        Ok(outcome)
    }

    async fn get(&self, digest: &TokenDigest) -> Result<Option<Arc<Session>>, StoreError> {
        let state = &*self.state;
        let trusted = state.enabled && state.trusted.load(Ordering::Acquire);
        if trusted && let Some(session) = state.sessions.get(digest) {
            state.hits.increment(1);
            return Ok(Some(session));
        }
        state.misses.increment(1);
        let epoch = state.epoch.load(Ordering::Acquire);
        let found = self.inner.get(digest).await?;
        if trusted
            && let Some(session) = &found
            && session.revoked_at.is_none()
        {
            state.ids.insert(session.id.clone(), *digest);
            state.sessions.insert(*digest, session.clone());
            if state.epoch.load(Ordering::Acquire) != epoch
                || !state.trusted.load(Ordering::Acquire)
            {
                // An invalidation ran while we were at the store: what we read may be
                // the state it ended. Drop it rather than serve it.
                state.sessions.invalidate(digest);
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
        let known: Vec<TokenDigest> = match &updated {
            Ok(Some(session)) => vec![session.digest],
            _ => Vec::new(),
        };
        self.forget_session(id, &known).await;
        updated
    }

    async fn touch(&self, id: &SessionId, at: Timestamp) -> Result<(), StoreError> {
        let result = self.inner.touch(id, at).await;
        // Only `last_used_at` changed: forget it here (so the debounce sees the write),
        // but do not make every other node drop a session that is still valid.
        if let Some(digest) = self.state.ids.get(id) {
            self.state.bump();
            self.state.sessions.invalidate(&digest);
        }
        result
    }

    async fn rekey(
        &self,
        id: &SessionId,
        old: &TokenDigest,
        new: &TokenDigest,
    ) -> Result<bool, StoreError> {
        let result = self.inner.rekey(id, old, new).await;
        self.forget_session(id, &[*old, *new]).await;
        result
    }

    async fn rotate(
        &self,
        id: &SessionId,
        presented: &TokenDigest,
        rotation: &Rotation,
    ) -> Result<Option<Session>, StoreError> {
        let result = self.inner.rotate(id, presented, rotation).await;
        // The old access token is forgotten by its digest, not only through the id side
        // cache, which may have evicted it.
        self.forget_session(id, &[rotation.previous_digest]).await;
        result
    }

    async fn remove(&self, id: &SessionId, how: Removal) -> Result<Option<Session>, StoreError> {
        let result = self.inner.remove(id, how).await;
        let known: Vec<TokenDigest> = match &result {
            Ok(Some(session)) => vec![session.digest],
            _ => Vec::new(),
        };
        self.forget_session(id, &known).await;
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
                for old in removed {
                    self.state.ids.invalidate(&old.id);
                }
                self.forget(Invalidation::Digests(
                    removed.iter().map(|s| s.digest).collect(),
                ))
                .await;
            }
            Err(_) => {
                // The write may have partly landed: forget the whole user, everywhere.
                self.forget(Invalidation::User {
                    user: user.clone(),
                    except: except.cloned(),
                })
                .await;
            }
        }
        result
    }

    async fn purge_expired(&self, before: Timestamp, batch: u32) -> Result<u64, StoreError> {
        self.inner.purge_expired(before, batch).await
    }
}

impl<S: TokenStore> crate::CacheLookup for CachedTokenStore<S> {
    fn get_cached(&self, digest: &TokenDigest) -> Option<Arc<Session>> {
        let state = &*self.state;
        if !(state.enabled && state.trusted.load(Ordering::Acquire)) {
            return None;
        }
        let session = state.sessions.get(digest)?;
        state.hits.increment(1);
        Some(session)
    }
}

#[async_trait]
impl<S: SessionAdmin + TokenStore> SessionAdmin for CachedTokenStore<S> {
    async fn list_sessions(&self, query: &SessionQuery) -> Result<Vec<Session>, StoreError> {
        self.inner.list_sessions(query).await
    }

    async fn count_client_sessions(&self, client: &ClientName) -> Result<u64, StoreError> {
        self.inner.count_client_sessions(client).await
    }

    async fn remove_client_sessions(&self, client: &ClientName) -> Result<u64, StoreError> {
        let result = self.inner.remove_client_sessions(client).await;
        self.forget(Invalidation::All).await;
        result
    }
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::testing::{client, digest, keep, now, session, user};
    use crate::{MemoryStore, RefreshState};

    /// Issue 12, item 6: once the id side cache has lost a session's entry (evicted when
    /// more sessions are live than it holds), a rotation must still forget the old access
    /// token by its digest, or the old token keeps working until the cache TTL.
    #[tokio::test]
    async fn rotate_forgets_the_old_digest_even_when_the_id_entry_was_evicted() {
        let cache = CachedTokenStore::new(MemoryStore::new());
        let t = now();
        let mut s = session(&user(), &client(), t);
        let refresh = digest();
        s.refresh = Some(RefreshState {
            digest: refresh,
            expires_at: t.saturating_add(Duration::from_secs(7200)),
        });
        cache.insert(&s, keep(1, t)).await.unwrap();
        assert!(cache.get(&s.digest).await.unwrap().is_some());
        // What eviction of the id side cache does (it holds as many entries as the
        // session cache, so with more live sessions than that, some ids go first).
        cache.state.ids.invalidate(&s.id);
        cache.state.ids.run_pending_tasks();
        assert!(cache.state.ids.get(&s.id).is_none());

        let at = t.saturating_add(Duration::from_secs(1));
        let rotation = Rotation {
            previous_digest: s.digest,
            digest: digest(),
            refresh_digest: digest(),
            refresh_expires_at: at.saturating_add(Duration::from_secs(7200)),
            expires_at: Some(at.saturating_add(Duration::from_secs(3600))),
            at,
        };
        let rotated = cache.rotate(&s.id, &refresh, &rotation).await.unwrap();
        assert!(rotated.is_some(), "rotated");
        assert!(
            cache.get(&s.digest).await.unwrap().is_none(),
            "the old access token still authenticates from the cache after a rotation"
        );
        assert!(cache.get(&rotation.digest).await.unwrap().is_some());
    }
}
