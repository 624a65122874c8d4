//! [`MeteredTokenStore`]: a [`TokenStore`] that records how long each operation of the
//! store under it takes, in the `durin_store_operation_seconds` histogram.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::store::RefreshLookup;
use crate::{
    InsertOutcome, InsertPolicy, Removal, Rotation, Session, SessionId, StoreError, Timestamp,
    TokenDigest, TokenStore, UserId,
};

/// The operations of [`TokenStore`], as the `operation` label spells them.
const OPERATIONS: [&str; 15] = [
    "insert",
    "get",
    "get_by_id",
    "get_by_refresh",
    "list_by_user",
    "extend",
    "touch",
    "rekey",
    "rotate",
    "remove",
    "remove_user",
    "purge_expired",
    "import_sessions",
    "acquire_lease",
    "release_lease",
];

/// Wraps a [`TokenStore`] and records the latency of each of its operations in the
/// histogram `durin_store_operation_seconds{operation, backend}` (`backend` is
/// [`TokenStore::backend`]). Failed operations are timed too.
///
/// Put it *under* the cache (`CachedTokenStore::new(MeteredTokenStore::new(store))`):
/// a cache hit then costs no timing at all, and the histogram shows what the store
/// itself costs. `durin_connect::open` does this for every store it opens.
///
/// The histogram handles are registered once, at construction, with the metrics
/// recorder installed then; install the recorder first.
pub struct MeteredTokenStore<S> {
    inner: S,
    histograms: Arc<[metrics::Histogram; OPERATIONS.len()]>,
}

impl<S: TokenStore> MeteredTokenStore<S> {
    /// Wraps `inner`, registering one histogram per operation with its backend name.
    pub fn new(inner: S) -> Self {
        let backend = inner.backend();
        let histograms = OPERATIONS.map(|operation| {
            metrics::histogram!(
                "durin_store_operation_seconds",
                "operation" => operation,
                "backend" => backend
            )
        });
        MeteredTokenStore {
            inner,
            histograms: Arc::new(histograms),
        }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn record(&self, operation: usize, started: Instant) {
        let elapsed: Duration = started.elapsed();
        self.histograms[operation].record(elapsed.as_secs_f64());
    }
}

impl<S> std::fmt::Debug for MeteredTokenStore<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeteredTokenStore").finish_non_exhaustive()
    }
}

/// Times `$call` as operation number `$op` of [`OPERATIONS`].
macro_rules! timed {
    ($self:ident, $op:expr, $call:expr) => {{
        let started = Instant::now();
        let result = $call.await;
        $self.record($op, started);
        result
    }};
}

#[async_trait]
impl<S: TokenStore> TokenStore for MeteredTokenStore<S> {
    async fn insert(
        &self,
        session: &Session,
        policy: InsertPolicy,
    ) -> Result<InsertOutcome, StoreError> {
        timed!(self, 0, self.inner.insert(session, policy))
    }
    async fn get(&self, digest: &TokenDigest) -> Result<Option<Arc<Session>>, StoreError> {
        timed!(self, 1, self.inner.get(digest))
    }
    /// Not timed: an answer from memory, when the inner store has one.
    fn get_cached(&self, digest: &TokenDigest) -> Option<Arc<Session>> {
        self.inner.get_cached(digest)
    }
    async fn get_by_id(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        timed!(self, 2, self.inner.get_by_id(id))
    }
    async fn get_by_refresh(
        &self,
        digest: &TokenDigest,
    ) -> Result<Option<RefreshLookup>, StoreError> {
        timed!(self, 3, self.inner.get_by_refresh(digest))
    }
    async fn list_by_user(&self, user: &UserId) -> Result<Vec<Session>, StoreError> {
        timed!(self, 4, self.inner.list_by_user(user))
    }
    async fn extend(
        &self,
        id: &SessionId,
        expires_at: Option<Timestamp>,
        renewed_at: Timestamp,
    ) -> Result<Option<Session>, StoreError> {
        timed!(self, 5, self.inner.extend(id, expires_at, renewed_at))
    }
    async fn touch(&self, id: &SessionId, at: Timestamp) -> Result<(), StoreError> {
        timed!(self, 6, self.inner.touch(id, at))
    }
    async fn rekey(
        &self,
        id: &SessionId,
        old: &TokenDigest,
        new: &TokenDigest,
    ) -> Result<bool, StoreError> {
        timed!(self, 7, self.inner.rekey(id, old, new))
    }
    async fn rotate(
        &self,
        id: &SessionId,
        presented: &TokenDigest,
        rotation: &Rotation,
    ) -> Result<Option<Session>, StoreError> {
        timed!(self, 8, self.inner.rotate(id, presented, rotation))
    }
    async fn remove(&self, id: &SessionId, how: Removal) -> Result<Option<Session>, StoreError> {
        timed!(self, 9, self.inner.remove(id, how))
    }
    async fn remove_user(
        &self,
        user: &UserId,
        except: Option<&SessionId>,
        how: Removal,
    ) -> Result<Vec<Session>, StoreError> {
        timed!(self, 10, self.inner.remove_user(user, except, how))
    }
    async fn purge_expired(&self, before: Timestamp, batch: u32) -> Result<u64, StoreError> {
        timed!(self, 11, self.inner.purge_expired(before, batch))
    }
    async fn import_sessions(
        &self,
        sessions: &[Session],
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        timed!(self, 12, self.inner.import_sessions(sessions, now))
    }
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        timed!(self, 13, self.inner.acquire_lease(name, holder, ttl, now))
    }
    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        timed!(self, 14, self.inner.release_lease(name, holder))
    }
}
