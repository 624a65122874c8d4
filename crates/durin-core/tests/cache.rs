//! `CachedTokenStore`: served from memory, invalidated at once, never resurrected by a
//! racing read.

use std::sync::Arc;
use std::time::Duration;

use durin_core::testing::{client, keep, now, session, user};
use durin_core::{
    CachedTokenStore, Client, DigestKey, Durin, LoginOptions, MemoryStore, Removal, TokenStore,
    Transport,
};
use tokio::sync::Notify;

type CountingStore = durin_core::testing::CountingStore<MemoryStore>;

#[tokio::test]
async fn cached_reads_do_not_touch_the_backend() {
    let cache = CachedTokenStore::new(CountingStore::default());
    let s = session(&user(), &client(), now());
    cache.insert(&s, keep(1, s.created_at)).await.unwrap();
    for _ in 0..10 {
        assert_eq!(cache.get(&s.digest).await.unwrap().as_deref(), Some(&s));
    }
    assert_eq!(cache.inner().gets(), 1);
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
    durin.create_client(&web).await.unwrap();
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
    assert_eq!(backend.gets(), 1, "second call came from the cache");
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
    backend.hold_next_get(release.clone());
    let reader = {
        let (cache, digest) = (cache.clone(), s.digest);
        tokio::spawn(async move { cache.get(&digest).await })
    };
    // Wait until the reader is parked inside the backend with the live session.
    while backend.gets() == 0 {
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
    assert_eq!(cache.inner().gets(), 2);
}
