//! What a [`Backend`] offers beyond its token and client stores: leases and bulk import;
//! see [`crate::backend_tests`]. A case for an ability the backend does not have checks
//! that the node's fallback behaves (imports go one at a time) or has nothing to check
//! (no leases: every node purges).

use std::sync::Arc;
use std::time::Duration;

use super::{client, keep, now, session, user};
use crate::{
    AuthError, Backend, Client, ClientName, DigestKey, Durin, InsertOutcome, LoginOptions, Session,
    TokenDigest, TokenStore, Transport,
};

struct Fixture {
    durin: Durin,
    web: ClientName,
}

async fn put(store: &Arc<dyn TokenStore>, s: &Session, max: u32) {
    let outcome = store.insert(s, keep(max, s.created_at)).await.unwrap();
    assert!(matches!(outcome, InsertOutcome::Inserted { .. }));
}

async fn get(store: &Arc<dyn TokenStore>, digest: &TokenDigest) -> Option<Session> {
    store.get(digest).await.unwrap().map(|s| (*s).clone())
}

/// `import_sessions` inserts new sessions without any policy (many per user and
/// client, nothing evicted) and skips those whose id or digest exists.
pub async fn import_sessions_skips_what_exists(backend: Arc<dyn Backend>) {
    let store = backend.clone().tokens();
    let import = async |batch: &[Session], t| match backend.clone().import() {
        Some(import) => import.import_sessions(batch, t).await.unwrap(),
        None => crate::import_each(&*store, batch, t).await.unwrap(),
    };
    let (u, c, t) = (user(), client(), now());
    let existing = session(&u, &c, t);
    put(&store, &existing, 1).await;
    let fresh: Vec<_> = (0..3).map(|_| session(&u, &c, t)).collect();
    let mut same_id = session(&u, &c, t);
    same_id.id = existing.id.clone();
    let mut same_digest = session(&u, &c, t);
    same_digest.digest = existing.digest;
    let mut batch = fresh.clone();
    batch.push(same_id);
    batch.push(same_digest);
    assert_eq!(import(&batch, t).await, 3);
    assert_eq!(get(&store, &existing.digest).await, Some(existing.clone()));
    for s in &fresh {
        assert_eq!(get(&store, &s.digest).await, Some(s.clone()));
    }
    assert_eq!(import(&batch, t).await, 0);
    assert_eq!(store.list_by_user(&u).await.unwrap().len(), 4);
}

/// A lease has one holder at a time: another holder is refused while it runs, the
/// holder renews it, another takes it once it has expired or been released, a release
/// by someone else changes nothing, and leases of other names are independent.
pub async fn a_lease_has_one_holder_until_it_expires_or_is_released(backend: Arc<dyn Backend>) {
    let Some(store) = backend.clone().leases() else {
        // No leases: every node purges, each run on its own.
        let node = crate::Node::builder(backend, DigestKey::generate("k"))
            .without_tasks()
            .single_node()
            .start()
            .expect("a single node accepts any backend");
        let ttl = Duration::from_secs(60);
        for holder in ["a", "b"] {
            assert!(matches!(
                node.purge_once(holder, ttl).await,
                Ok(crate::PurgeRun::Ran(_))
            ));
        }
        return;
    };
    let name = format!("test:{}", crate::SessionId::generate().as_str());
    let other = format!("{name}:other");
    let t = now();
    let ttl = Duration::from_secs(60);
    let at = |secs: u64| t.saturating_add(Duration::from_secs(secs));
    let acquire = |holder: &'static str, when| {
        let (store, name) = (store.clone(), name.clone());
        async move { store.acquire_lease(&name, holder, ttl, when).await.unwrap() }
    };
    assert!(acquire("a", t).await, "a free lease is taken");
    assert!(!acquire("b", t).await, "b is refused while a holds it");
    assert!(
        acquire("a", at(30)).await,
        "the holder renews (until t + 90 s)"
    );
    assert!(
        !acquire("b", at(61)).await,
        "the renewal holds past the first expiry"
    );
    assert!(
        store.acquire_lease(&other, "b", ttl, t).await.unwrap(),
        "another name is another lease"
    );
    assert!(acquire("b", at(90)).await, "an expired lease is taken");
    assert!(!acquire("a", at(91)).await, "the old holder is refused now");
    store.release_lease(&name, "a").await.unwrap();
    assert!(
        !acquire("a", at(91)).await,
        "a release by a non-holder changes nothing"
    );
    store.release_lease(&name, "b").await.unwrap();
    assert!(
        acquire("a", at(91)).await,
        "a released lease is taken at once"
    );
}

/// Settings survive logout and re-login through the same client, are separate per
/// client, and are refused (unchanged) beyond the size limit.
pub async fn settings_survive_logout_and_are_per_client(backend: Arc<dyn Backend>) {
    let Some(store) = backend.clone().settings() else {
        // No settings: the service says so (`settings/` answers 404).
        super::parts::absent(backend, "settings").await;
        return;
    };
    let durin = Durin::builder(
        backend.clone().tokens(),
        backend.clients(),
        DigestKey::generate("k"),
    )
    .settings_store(store)
    .settings_limit(1024)
    .build();
    let web = Client::new(client());
    durin.create_client(&web).await.unwrap();
    let f = Fixture {
        durin,
        web: web.name,
    };
    let mobile = Client::new(client());
    f.durin.create_client(&mobile).await.unwrap();
    let u = user();
    assert!(f.durin.settings(&u, &f.web).await.unwrap().is_empty());
    let settings = serde_json::json!({"theme": "dark", "display_name": "Ann"});
    let settings = settings.as_object().unwrap().clone();
    f.durin.put_settings(&u, &f.web, &settings).await.unwrap();
    let login = f
        .durin
        .login(&u, &f.web, LoginOptions::default())
        .await
        .unwrap();
    let auth = f
        .durin
        .authenticate(&login.token, Transport::Header)
        .await
        .unwrap();
    f.durin.logout(&auth).await.unwrap();
    f.durin.logout_all(&u).await.unwrap();
    f.durin
        .login(&u, &f.web, LoginOptions::default())
        .await
        .unwrap();
    assert_eq!(f.durin.settings(&u, &f.web).await.unwrap(), settings);
    assert!(f.durin.settings(&u, &mobile.name).await.unwrap().is_empty());
    let big = serde_json::json!({"blob": "x".repeat(2000)});
    assert!(matches!(
        f.durin
            .put_settings(&u, &f.web, big.as_object().unwrap())
            .await,
        Err(AuthError::SettingsTooLarge { limit: 1024 })
    ));
    assert_eq!(f.durin.settings(&u, &f.web).await.unwrap(), settings);
    assert!(f.durin.clear_settings(&u, &f.web).await.unwrap());
    assert!(f.durin.settings(&u, &f.web).await.unwrap().is_empty());
}
