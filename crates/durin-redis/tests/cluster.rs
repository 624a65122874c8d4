//! What is specific to Redis Cluster (`REDIS_CLUSTER_URL`, default the 3 masters and 3
//! replicas `scripts/services.sh` starts): a user's keys share one slot, users spread
//! over the masters, authentication finds the session from the token alone, pointers
//! route what carries no tag, and writes wait for a replica. An unreachable cluster
//! fails these tests; none skips.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use common::{cluster_config, cluster_store, cluster_store_with, cluster_url, config, store_with};
use durin_core::testing::{client, keep, now, session, user};
use durin_core::{
    AuthError, Client, ClientName, ClientStore, DigestKey, Durin, LoginOptions, Removal,
    RoutingTag, TokenStore, Transport, UserId,
};
use durin_redis::{Connection, RedisStore};

async fn slot(conn: &mut Connection, key: &str) -> u16 {
    redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg(key)
        .query_async(conn)
        .await
        .unwrap()
}

async fn exists(conn: &mut Connection, key: &str) -> bool {
    redis::cmd("EXISTS")
        .arg(key)
        .query_async(conn)
        .await
        .unwrap()
}

fn durin(store: &Arc<RedisStore>) -> Durin {
    Durin::builder(store.clone(), store.clone(), DigestKey::generate("k1")).build()
}

async fn web_client(durin: &Durin) -> ClientName {
    let name = client();
    durin
        .upsert_client(&Client::new(name.clone()))
        .await
        .unwrap();
    name
}

#[tokio::test]
async fn a_login_keeps_the_users_keys_in_one_slot_and_the_token_names_it() {
    let store = cluster_store().await;
    let durin = durin(&store);
    let web = web_client(&durin).await;
    let alice = user();
    let tag = RoutingTag::for_user(&alice);
    let login = durin
        .login(&alice, &web, LoginOptions::default())
        .await
        .unwrap();

    // The token and the session id carry the user's tag; the token keeps its format.
    let text = login.token.expose_secret();
    assert_eq!(&text["durin_".len().."durin_".len() + 3], tag.as_str());
    assert_eq!(text.len(), "durin_".len() + 43 + 6);
    assert_eq!(login.session.id.routing_tag(), Some(tag));

    // Record, id pointer, user index and settings of the user share one slot.
    let base = store.config().prefix().to_owned();
    let part = format!("{{{base}:{tag}}}");
    let mut conn = store.connection().clone();
    let record = store.session_key(&login.session.digest).unwrap();
    assert!(record.starts_with(&part), "{record}");
    let keys = [
        record.clone(),
        format!("{part}:id:{}", login.session.id),
        format!("{part}:u:{{{alice}}}:i"),
        format!("{part}:all"),
        format!("{part}:exp"),
        format!("{part}:c:{web}"),
    ];
    let slots: HashSet<u16> = futures::future::join_all(keys.iter().map(|key| {
        let mut conn = conn.clone();
        async move { slot(&mut conn, key).await }
    }))
    .await
    .into_iter()
    .collect();
    assert_eq!(slots.len(), 1, "{keys:?}");
    for key in &keys[..3] {
        assert!(exists(&mut conn, key).await, "{key}");
    }
    // Routed: no pointer keys.
    let pointer = format!("{base}:rt:d:{}", login.session.digest.to_hex());
    assert!(!exists(&mut conn, &pointer).await);

    let auth = durin
        .authenticate(&login.token, Transport::Header)
        .await
        .unwrap();
    assert_eq!(auth.session.id, login.session.id);
    durin.logout_all(&alice).await.unwrap();
    let refused = durin.authenticate(&login.token, Transport::Header).await;
    assert!(
        matches!(refused, Err(AuthError::InvalidToken(_))),
        "{refused:?}"
    );
}

#[tokio::test]
async fn users_spread_over_the_masters() {
    let store = cluster_store().await;
    let mut conn = store.connection().clone();
    // The slot ranges of the masters.
    let ranges: Vec<Vec<redis::Value>> = redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query_async(&mut conn)
        .await
        .unwrap();
    let ranges: Vec<(u16, u16)> = ranges
        .iter()
        .map(|range| {
            (
                redis::from_redis_value_ref(&range[0]).unwrap(),
                redis::from_redis_value_ref(&range[1]).unwrap(),
            )
        })
        .collect();
    let base = store.config().prefix().to_owned();
    let mut served = HashSet::new();
    for _ in 0..30 {
        let tag = RoutingTag::for_user(&user());
        let slot = slot(&mut conn, &format!("{{{base}:{tag}}}:all")).await;
        let range = ranges
            .iter()
            .position(|(low, high)| (*low..=*high).contains(&slot))
            .expect("every slot is served");
        served.insert(range);
    }
    assert!(
        served.len() >= 2,
        "30 users on {} slot ranges",
        served.len()
    );
}

#[tokio::test]
async fn sessions_without_a_routing_tag_are_found_through_pointers() {
    let store = cluster_store().await;
    let (u, t) = (user(), now());
    // An imported session: a random id and a digest made from bytes, neither tagged.
    let s = session(&u, &client(), t);
    assert_eq!(s.id.routing_tag(), None);
    assert!(store.session_key(&s.digest).is_none());
    store.insert(&s, keep(1, t)).await.unwrap();
    let base = store.config().prefix().to_owned();
    let pointer = format!("{base}:rt:d:{}", s.digest.to_hex());
    let mut conn = store.connection().clone();
    assert!(exists(&mut conn, &pointer).await);
    assert_eq!(store.get(&s.digest).await.unwrap().as_deref(), Some(&s));
    assert_eq!(store.get_by_id(&s.id).await.unwrap(), Some(s.clone()));
    // Deleting the session takes its pointers back.
    store.remove(&s.id, Removal::Delete).await.unwrap();
    assert!(!exists(&mut conn, &pointer).await);
    assert_eq!(store.get(&s.digest).await.unwrap(), None);
}

#[tokio::test]
async fn a_write_not_confirmed_by_enough_replicas_is_unavailable() {
    // Each master has one replica: waiting for two cannot succeed.
    let store = cluster_store_with(
        cluster_config()
            .with_wait_replicas(2)
            .with_wait_timeout(Duration::from_millis(100)),
    )
    .await;
    let (u, t) = (user(), now());
    let s = session(&u, &client(), t);
    let error = store.insert(&s, keep(1, t)).await.unwrap_err();
    assert!(error.is_unavailable(), "{error:?}");
    // One replica confirms (cluster_config waits for one).
    let store = cluster_store().await;
    let s = session(&u, &client(), t);
    store.insert(&s, keep(1, t)).await.unwrap();
    let removed = store.remove_user(&u, None, Removal::Delete).await.unwrap();
    assert_eq!(removed.len(), 1);
}

#[tokio::test]
async fn a_server_without_replicas_fails_writes_that_wait_for_one() {
    let store = store_with(
        config()
            .with_wait_replicas(1)
            .with_wait_timeout(Duration::from_millis(50)),
    )
    .await;
    let (u, t) = (user(), now());
    let error = store
        .insert(&session(&u, &client(), t), keep(1, t))
        .await
        .unwrap_err();
    assert!(error.is_unavailable(), "{error:?}");
}

#[tokio::test]
async fn an_unreachable_cluster_is_unavailable() {
    let error = RedisStore::connect_with("redis+cluster://127.0.0.1:1", config())
        .await
        .unwrap_err();
    let error = durin_core::StoreError::from(error);
    assert!(error.is_unavailable(), "{error:?}");
    // Lazily: the store is made, its operations fail as unavailable.
    let store = RedisStore::connect_lazy("redis+cluster://127.0.0.1:1", config()).unwrap();
    let error = store
        .get_client(&ClientName::new("web").unwrap())
        .await
        .unwrap_err();
    assert!(error.is_unavailable(), "{error:?}");
}

#[tokio::test]
async fn open_url_reads_the_settings_off_the_url() {
    let prefix = common::unique_prefix();
    let url = format!("{}/?prefix={prefix}&wait_replicas=0", cluster_url());
    let store = RedisStore::open_url(&url).await.unwrap();
    assert!(store.is_cluster());
    assert_eq!(store.config().prefix(), prefix);
    assert_eq!(store.config().wait_replicas(), 0);
    assert_eq!(store.key_prefix(), format!("{{{prefix}}}"));
    let u = UserId::new("42").unwrap();
    let (c, t) = (client(), now());
    store.insert(&session(&u, &c, t), keep(1, t)).await.unwrap();
    assert_eq!(store.list_by_user(&u).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_copied_session_is_found_by_its_untagged_token() {
    let store = cluster_store().await;
    let base = store.config().prefix().to_owned();
    let mut conn = store.connection().clone();
    let hasher = durin_core::TokenHasher::new(DigestKey::generate("k1"));
    let (u, t) = (user(), now());
    // Tagged sessions only: no flag, so an unknown token is one GET.
    let mut routed = session(&u, &client(), t);
    routed.id = durin_core::SessionId::generate_routed(RoutingTag::for_user(&u));
    routed.digest = hasher.digest(&durin_core::TokenString::generate_routed(
        &durin_core::TokenPrefix::default(),
        RoutingTag::for_user(&u),
    ));
    store.insert(&routed, keep(2, t)).await.unwrap();
    assert!(!exists(&mut conn, &format!("{{{base}}}:untagged")).await);

    // A token issued before routing tags (random first characters), its session copied
    // in by digest (as `durin store copy` does: the digest read back has no tag).
    let old = durin_core::TokenString::generate(&durin_core::TokenPrefix::default());
    let presented = hasher.digest(&old);
    let mut copied = session(&u, &client(), t);
    copied.digest = durin_core::TokenDigest::from_bytes(*presented.as_bytes());
    store.insert(&copied, keep(2, t)).await.unwrap();
    assert!(exists(&mut conn, &format!("{{{base}}}:untagged")).await);
    let found = store.get(&presented).await.unwrap();
    assert_eq!(found.as_deref(), Some(&copied));
    // Another process learns of the flag at its first miss.
    let other = cluster_store_with(cluster_config().with_prefix(base.clone())).await;
    assert_eq!(
        other.get(&presented).await.unwrap().as_deref(),
        Some(&copied)
    );
}
