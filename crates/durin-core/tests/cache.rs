//! `CachedTokenStore`: served from memory, invalidated at once, never resurrected by a
//! racing read.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use durin_core::testing::{client, keep, now, session, user};
use durin_core::{
    CachedTokenStore, Client, DigestKey, Durin, InsertPolicy, LoginOptions, MemoryStore,
    RefreshLookup, Removal, Rotation, Session, SessionId, StoreError, Timestamp, TokenDigest,
    TokenStore, Transport, UserId,
};
use tokio::sync::Notify;

/// Counts reads that reach the backend, and can hold one read until released.
#[derive(Default)]
struct CountingStore {
    inner: MemoryStore,
    gets: AtomicUsize,
    hold_next_get: std::sync::Mutex<Option<Arc<Notify>>>,
}

#[async_trait]
impl TokenStore for CountingStore {
    async fn insert(&self, s: &Session, p: InsertPolicy) -> Result<Vec<Session>, StoreError> {
        self.inner.insert(s, p).await
    }
    async fn get(&self, digest: &TokenDigest) -> Result<Option<Session>, StoreError> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        let found = self.inner.get(digest).await;
        let hold = self.hold_next_get.lock().unwrap().take();
        if let Some(release) = hold {
            // The read has its (soon stale) answer; let the test revoke meanwhile.
            release.notified().await;
        }
        found
    }
    async fn get_by_id(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        self.inner.get_by_id(id).await
    }
    async fn get_by_refresh(&self, d: &TokenDigest) -> Result<Option<RefreshLookup>, StoreError> {
        self.inner.get_by_refresh(d).await
    }
    async fn list_by_user(&self, user: &UserId) -> Result<Vec<Session>, StoreError> {
        self.inner.list_by_user(user).await
    }
    async fn extend(
        &self,
        id: &SessionId,
        e: Option<Timestamp>,
        at: Timestamp,
    ) -> Result<Option<Session>, StoreError> {
        self.inner.extend(id, e, at).await
    }
    async fn touch(&self, id: &SessionId, at: Timestamp) -> Result<(), StoreError> {
        self.inner.touch(id, at).await
    }
    async fn rekey(
        &self,
        id: &SessionId,
        o: &TokenDigest,
        n: &TokenDigest,
    ) -> Result<bool, StoreError> {
        self.inner.rekey(id, o, n).await
    }
    async fn rotate(
        &self,
        id: &SessionId,
        p: &TokenDigest,
        r: &Rotation,
    ) -> Result<Option<Session>, StoreError> {
        self.inner.rotate(id, p, r).await
    }
    async fn remove(&self, id: &SessionId, how: Removal) -> Result<Option<Session>, StoreError> {
        self.inner.remove(id, how).await
    }
    async fn remove_user(
        &self,
        u: &UserId,
        e: Option<&SessionId>,
        how: Removal,
    ) -> Result<Vec<Session>, StoreError> {
        self.inner.remove_user(u, e, how).await
    }
    async fn purge_expired(&self, before: Timestamp, batch: u32) -> Result<u64, StoreError> {
        self.inner.purge_expired(before, batch).await
    }
}

#[tokio::test]
async fn cached_reads_do_not_touch_the_backend() {
    let cache = CachedTokenStore::new(CountingStore::default());
    let s = session(&user(), &client(), now());
    cache.insert(&s, keep(1, s.created_at)).await.unwrap();
    for _ in 0..10 {
        assert_eq!(cache.get(&s.digest).await.unwrap(), Some(s.clone()));
    }
    assert_eq!(cache.inner().gets.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_logged_out_token_is_refused_on_the_next_request() {
    // django-rest-durin's cached authenticator keeps accepting a logged-out token for its
    // whole cache timeout (60 s). Here the very next authentication is refused.
    let backend = Arc::new(CountingStore::default());
    let clients = Arc::new(MemoryStore::new());
    let cached = Arc::new(CachedTokenStore::new(backend.clone()));
    let durin = Durin::builder(cached, clients, DigestKey::generate("k")).build();
    let web = Client::new(client());
    durin.clients().create_client(&web).await.unwrap();
    let u = user();
    let login = durin
        .login(&u, &web.name, LoginOptions::default())
        .await
        .unwrap();
    let auth = durin
        .authenticate(&login.token, Transport::Header)
        .await
        .unwrap();
    durin
        .authenticate(&login.token, Transport::Header)
        .await
        .unwrap();
    assert_eq!(
        backend.gets.load(Ordering::SeqCst),
        1,
        "second call came from the cache"
    );
    durin.logout(&auth).await.unwrap();
    assert!(
        durin
            .authenticate(&login.token, Transport::Header)
            .await
            .is_err()
    );

    // logout-all too.
    let a = durin
        .login(&u, &web.name, LoginOptions::default())
        .await
        .unwrap();
    durin
        .authenticate(&a.token, Transport::Header)
        .await
        .unwrap();
    durin.logout_all(&u).await.unwrap();
    assert!(
        durin
            .authenticate(&a.token, Transport::Header)
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_racing_a_revoke_does_not_cache_the_revoked_session() {
    let backend = Arc::new(CountingStore::default());
    let cache = Arc::new(CachedTokenStore::new(backend.clone()));
    let s = session(&user(), &client(), now());
    cache.insert(&s, keep(1, s.created_at)).await.unwrap();

    let release = Arc::new(Notify::new());
    *backend.hold_next_get.lock().unwrap() = Some(release.clone());
    let reader = {
        let (cache, digest) = (cache.clone(), s.digest);
        tokio::spawn(async move { cache.get(&digest).await })
    };
    // Wait until the reader is parked inside the backend with the live session.
    while backend.gets.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    cache.remove(&s.id, Removal::Delete).await.unwrap();
    release.notify_one();
    let stale = reader.await.unwrap().unwrap();
    assert!(
        stale.is_some(),
        "the racing read saw the session before the revoke"
    );
    assert_eq!(
        cache.get(&s.digest).await.unwrap(),
        None,
        "but did not cache it"
    );
}

#[tokio::test]
async fn entries_never_outlive_the_ttl_ceiling() {
    let cache = CachedTokenStore::with_config(
        CountingStore::default(),
        durin_core::CacheConfig {
            max_capacity: 100,
            ttl: Duration::from_millis(50),
        },
    );
    let s = session(&user(), &client(), now());
    cache.insert(&s, keep(1, s.created_at)).await.unwrap();
    cache.get(&s.digest).await.unwrap();
    tokio::time::sleep(Duration::from_millis(120)).await;
    cache.get(&s.digest).await.unwrap();
    assert_eq!(cache.inner().gets.load(Ordering::SeqCst), 2);
}
