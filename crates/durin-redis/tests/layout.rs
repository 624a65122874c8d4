//! What is specific to Redis: the key layout, server-side expiry a grace period after a
//! session becomes purgeable, index upkeep, record versions, script errors, and the
//! throttle state shared between processes.

mod common;

use std::time::Duration;

use common::{config, raw_connection, store_with};
use durin_core::testing::{client, digest, keep, now, session, user};
use durin_core::{
    Client, ClientStore, Rate, RefreshState, Removal, Rotation, StoreError, Throttle,
    ThrottleDecision, TokenStore,
};
use durin_redis::{RedisConfig, RedisStore, RedisThrottle};
use redis::AsyncCommands;

async fn pttl(key: &str) -> i64 {
    raw_connection().await.pttl(key).await.unwrap()
}

async fn exists(key: &str) -> bool {
    raw_connection().await.exists(key).await.unwrap()
}

async fn members(key: &str) -> Vec<String> {
    raw_connection().await.zrange(key, 0, -1).await.unwrap()
}

#[track_caller]
fn assert_near(actual_ms: i64, expected: Duration) {
    let expected = expected.as_millis() as i64;
    assert!(
        (expected - 5_000..=expected + 1_000).contains(&actual_ms),
        "TTL {actual_ms} ms, expected about {expected} ms"
    );
}

#[tokio::test]
async fn session_keys_expire_a_grace_period_after_the_purge_point() {
    let grace = Duration::from_secs(600);
    let store = store_with(config().with_grace(grace)).await;
    let p = store.config().prefix().to_owned();
    let (u, t) = (user(), now());

    // Expires in an hour: the keys live an hour and the grace period.
    let s = session(&u, &client(), t);
    store.insert(&s, keep(1, t)).await.unwrap();
    assert_near(
        pttl(&store.session_key(&s.digest).unwrap()).await,
        Duration::from_secs(3600) + grace,
    );
    assert_near(
        pttl(&format!("{p}:id:{}", s.id)).await,
        Duration::from_secs(3600) + grace,
    );

    // Never expires: no TTL at all.
    let mut forever = session(&u, &client(), t);
    forever.expires_at = None;
    store.insert(&forever, keep(1, t)).await.unwrap();
    assert_eq!(pttl(&store.session_key(&forever.digest).unwrap()).await, -1);
    assert_eq!(pttl(&format!("{p}:id:{}", forever.id)).await, -1);

    // A refresh token outliving the access token keeps the session until it expires.
    let mut refreshable = session(&u, &client(), t);
    let refresh = digest();
    refreshable.refresh = Some(RefreshState {
        digest: refresh,
        expires_at: t.saturating_add(Duration::from_secs(7200)),
    });
    store.insert(&refreshable, keep(1, t)).await.unwrap();
    let until = Duration::from_secs(7200) + grace;
    assert_near(
        pttl(&store.session_key(&refreshable.digest).unwrap()).await,
        until,
    );
    assert_near(pttl(&format!("{p}:r:{}", refresh.to_hex())).await, until);

    // Revoked for audit: kept the grace period after the revocation.
    store
        .remove(&forever.id, Removal::Revoke { at: t })
        .await
        .unwrap()
        .unwrap();
    assert_near(
        pttl(&store.session_key(&forever.digest).unwrap()).await,
        grace,
    );

    // Extending moves the expiry of every key of the session.
    let later = t.saturating_add(Duration::from_secs(5 * 3600));
    store.extend(&s.id, Some(later), t).await.unwrap().unwrap();
    assert_near(
        pttl(&store.session_key(&s.digest).unwrap()).await,
        Duration::from_secs(5 * 3600) + grace,
    );
    store.extend(&s.id, None, t).await.unwrap().unwrap();
    assert_eq!(pttl(&store.session_key(&s.digest).unwrap()).await, -1);
}

#[tokio::test]
async fn an_expired_token_is_kept_for_the_grace_period_then_dropped_by_redis() {
    let store = store_with(config().with_grace(Duration::from_millis(1500))).await;
    let t = now();
    let mut s = session(&user(), &client(), t);
    s.expires_at = Some(t.saturating_add(Duration::from_millis(100)));
    store.insert(&s, keep(1, t)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let expired = store
        .get(&s.digest)
        .await
        .unwrap()
        .expect("kept: answers expired");
    assert!(expired.is_expired(now()));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(store.get(&s.digest).await.unwrap(), None);
    assert_eq!(store.get_by_id(&s.id).await.unwrap(), None);
}

#[tokio::test]
async fn login_prunes_index_members_whose_keys_expired_and_purge_clears_the_rest() {
    let store = store_with(config().with_grace(Duration::ZERO)).await;
    let p = store.config().prefix().to_owned();
    let (u, c, t) = (user(), client(), now());
    let mut short = session(&u, &c, t);
    short.expires_at = Some(t.saturating_add(Duration::from_millis(50)));
    store.insert(&short, keep(5, t)).await.unwrap();
    let user_index = format!("{p}:u:{{{u}}}:i");
    assert_eq!(members(&user_index).await, vec![short.id.to_string()]);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !exists(&store.session_key(&short.digest).unwrap()).await,
        "Redis expired it"
    );
    assert_eq!(
        members(&user_index).await.len(),
        1,
        "the index still names it"
    );

    let next = session(&u, &c, now());
    store.insert(&next, keep(5, next.created_at)).await.unwrap();
    assert_eq!(members(&user_index).await, vec![next.id.to_string()]);
    assert_eq!(
        members(&format!("{p}:all")).await,
        vec![next.id.to_string()]
    );

    // The client index and the purge index are cleared by purge, which counts it.
    assert_eq!(members(&format!("{p}:c:{c}")).await.len(), 2);
    assert_eq!(store.purge_expired(now(), 100).await.unwrap(), 1);
    assert_eq!(
        members(&format!("{p}:c:{c}")).await,
        vec![next.id.to_string()]
    );
    let purge_index = members(&format!("{p}:exp")).await;
    assert_eq!(purge_index, vec![format!("{}:{c}:{u}", next.id)]);
}

#[tokio::test]
async fn purge_deletes_every_key_of_a_revoked_session() {
    let store = store_with(config()).await;
    let p = store.config().prefix().to_owned();
    let t = now();
    let mut s = session(&user(), &client(), t);
    let first = digest();
    s.refresh = Some(RefreshState {
        digest: first,
        expires_at: t.saturating_add(Duration::from_secs(7200)),
    });
    store.insert(&s, keep(1, t)).await.unwrap();
    let rotation = Rotation {
        previous_digest: s.digest,
        digest: digest(),
        refresh_digest: digest(),
        refresh_expires_at: t.saturating_add(Duration::from_secs(7200)),
        expires_at: Some(t.saturating_add(Duration::from_secs(3600))),
        at: t,
    };
    store
        .rotate(&s.id, &first, &rotation)
        .await
        .unwrap()
        .unwrap();
    let rotated_key = format!("{p}:rr:{}", first.to_hex());
    let rotated_set = format!("{p}:ro:{}", s.id);
    assert!(exists(&rotated_key).await && exists(&rotated_set).await);
    let long_ago = t.saturating_sub(Duration::from_secs(7200));
    store
        .remove(&s.id, Removal::Revoke { at: long_ago })
        .await
        .unwrap()
        .unwrap();
    let cutoff = t.saturating_sub(Duration::from_secs(3600));
    assert_eq!(store.purge_expired(cutoff, 10).await.unwrap(), 1);
    for key in [
        store.session_key(&rotation.digest).unwrap(),
        format!("{p}:id:{}", s.id),
        format!("{p}:r:{}", rotation.refresh_digest.to_hex()),
        rotated_key,
        rotated_set,
    ] {
        assert!(!exists(&key).await, "{key} survived the purge");
    }
    for index in ["all", "exp", &format!("c:{}", s.client)] {
        assert!(members(&format!("{p}:{index}")).await.is_empty(), "{index}");
    }
    assert_eq!(store.purge_expired(cutoff, 10).await.unwrap(), 0);
    // Nothing of the session answers any more, the rotated refresh token included.
    assert_eq!(store.get_by_refresh(&first).await.unwrap(), None);
}

#[tokio::test]
async fn application_data_survives_every_script_rewrite_exactly() {
    let store = store_with(config()).await;
    let t = now();
    let mut s = session(&user(), &client(), t);
    s.scopes = Vec::new();
    s.context
        .insert("big".into(), serde_json::json!(12_345_678_901_234_567_u64));
    s.context.insert("float".into(), serde_json::json!(0.1));
    s.context.insert("empty".into(), serde_json::json!([]));
    s.context.insert("object".into(), serde_json::json!({}));
    s.context
        .insert("text".into(), serde_json::json!("a/b\n\"c\" é"));
    let first = digest();
    s.refresh = Some(RefreshState {
        digest: first,
        expires_at: t.saturating_add(Duration::from_secs(7200)),
    });
    store.insert(&s, keep(1, t)).await.unwrap();
    store.touch(&s.id, t).await.unwrap();
    let at = t.saturating_add(Duration::from_secs(1));
    store
        .extend(&s.id, s.expires_at, at)
        .await
        .unwrap()
        .unwrap();
    let rotation = Rotation {
        previous_digest: s.digest,
        digest: digest(),
        refresh_digest: digest(),
        refresh_expires_at: t.saturating_add(Duration::from_secs(7200)),
        expires_at: s.expires_at,
        at,
    };
    store
        .rotate(&s.id, &first, &rotation)
        .await
        .unwrap()
        .unwrap();
    store
        .remove(&s.id, Removal::Revoke { at })
        .await
        .unwrap()
        .unwrap();
    let got = store.get(&rotation.digest).await.unwrap().unwrap();
    assert_eq!(got.context, s.context);
    assert_eq!(got.scopes, s.scopes);
    assert_eq!(got.created_at, s.created_at);
    assert_eq!(got.revoked_at, Some(at));
}

#[tokio::test]
async fn records_of_an_unknown_version_are_corrupt() {
    let store = store_with(config()).await;
    let p = store.config().prefix().to_owned();
    let mut conn = raw_connection().await;
    let s = session(&user(), &client(), now());
    store.insert(&s, keep(1, s.created_at)).await.unwrap();
    let key = store.session_key(&s.digest).unwrap();
    let raw: String = conn.get(&key).await.unwrap();
    assert!(raw.starts_with('{') && raw.contains("\"v\":1"), "{raw}");
    let newer = raw.replacen("\"v\":1", "\"v\":2", 1);
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg(newer)
        .arg("KEEPTTL")
        .query_async(&mut conn)
        .await
        .unwrap();
    let corrupt = |r: Result<_, StoreError>| matches!(r, Err(StoreError::Corrupt(m)) if m.contains("version 2"));
    assert!(corrupt(store.get(&s.digest).await.map(drop)));
    assert!(corrupt(store.get_by_id(&s.id).await.map(drop)));
    // Raised inside a script too.
    assert!(corrupt(
        store.remove(&s.id, Removal::Delete).await.map(drop)
    ));
    let next = session(&s.user_id, &s.client, now());
    assert!(corrupt(
        store
            .insert(&next, keep(1, next.created_at))
            .await
            .map(drop)
    ));

    let c = Client::new(client());
    let _: () = conn
        .hset(
            format!("{p}:clients"),
            c.name.as_str(),
            r#"{"v":7,"client":{}}"#,
        )
        .await
        .unwrap();
    let err = store.get_client(&c.name).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt(m) if m.contains("version 7")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_duplicate_digest_or_id_is_a_conflict() {
    let store = store_with(config()).await;
    let s = session(&user(), &client(), now());
    store.insert(&s, keep(1, s.created_at)).await.unwrap();
    let mut same_digest = session(&user(), &client(), now());
    same_digest.digest = s.digest;
    let mut same_id = session(&user(), &client(), now());
    same_id.id = s.id.clone();
    for clash in [same_digest, same_id] {
        let err = store
            .insert(&clash, keep(1, clash.created_at))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    }
}

#[tokio::test]
async fn an_empty_prefix_is_refused() {
    let err = RedisStore::connect_with(&common::redis_url(), RedisConfig::new().with_prefix(""))
        .await
        .unwrap_err();
    assert!(matches!(err, durin_redis::Error::Config(_)), "{err:?}");
}

#[tokio::test]
async fn throttle_state_is_shared_between_processes() {
    let config = config();
    let url = common::redis_url();
    let a = RedisThrottle::connect_with(&url, config.clone())
        .await
        .unwrap();
    let b = RedisThrottle::connect_with(&url, config).await.unwrap();
    let rate: Rate = "4/h".parse().unwrap();
    for (i, throttle) in [&a, &b, &a, &b].into_iter().enumerate() {
        assert!(
            throttle.check("shared", rate).await.unwrap().is_allowed(),
            "request {i}"
        );
    }
    assert!(!a.check("shared", rate).await.unwrap().is_allowed());
    assert!(!b.check("shared", rate).await.unwrap().is_allowed());
}

#[tokio::test]
async fn throttle_admits_again_once_the_interval_passed() {
    let throttle = common::throttle().await;
    // 5 per second: one every 200 ms.
    let rate = Rate::new(5, Duration::from_secs(1)).unwrap();
    for _ in 0..5 {
        assert!(throttle.check("k", rate).await.unwrap().is_allowed());
    }
    let ThrottleDecision::Limited { retry_after } = throttle.check("k", rate).await.unwrap() else {
        panic!("the sixth request of 5/s was admitted");
    };
    assert!(retry_after <= Duration::from_millis(200), "{retry_after:?}");
    tokio::time::sleep(retry_after + Duration::from_millis(20)).await;
    assert!(throttle.check("k", rate).await.unwrap().is_allowed());
    assert!(
        !throttle.check("k", rate).await.unwrap().is_allowed(),
        "one per 200 ms"
    );
}

#[tokio::test]
async fn rotated_refresh_tokens_are_remembered_until_their_own_expiry_and_grace() {
    let grace = Duration::from_secs(600);
    let store = store_with(config().with_grace(grace)).await;
    let p = store.config().prefix().to_owned();
    let t = now();
    let mut s = session(&user(), &client(), t);
    let first = digest();
    s.refresh = Some(RefreshState {
        digest: first,
        expires_at: t.saturating_add(Duration::from_secs(60)),
    });
    store.insert(&s, keep(1, t)).await.unwrap();
    let rotation = |refresh_expires_at| Rotation {
        previous_digest: s.digest,
        digest: digest(),
        refresh_digest: digest(),
        refresh_expires_at,
        expires_at: Some(t.saturating_add(Duration::from_secs(3600))),
        at: t,
    };
    let second = rotation(t.saturating_sub(Duration::from_secs(7200)));
    store.rotate(&s.id, &first, &second).await.unwrap().unwrap();
    assert_near(
        pttl(&format!("{p}:rr:{}", first.to_hex())).await,
        Duration::from_secs(60) + grace,
    );
    // A refresh token that expired longer ago than the grace period is not remembered.
    let third = rotation(t.saturating_add(Duration::from_secs(7200)));
    let rotated = store
        .rotate(&s.id, &second.refresh_digest, &third)
        .await
        .unwrap()
        .expect("rotated");
    assert_eq!(rotated.digest, third.digest);
    assert_eq!(
        store.get_by_refresh(&second.refresh_digest).await.unwrap(),
        None
    );
    assert_eq!(
        store.get_by_refresh(&first).await.unwrap(),
        Some(durin_core::RefreshLookup::Rotated(s.id.clone()))
    );
    assert_eq!(
        members(&format!("{p}:ro:{}", s.id)).await,
        vec![first.to_hex()]
    );

    // The only rotated token of a session long expired: nothing to remember at all.
    let mut old = session(&user(), &client(), t);
    let stale = digest();
    old.refresh = Some(RefreshState {
        digest: stale,
        expires_at: t.saturating_sub(Duration::from_secs(7200)),
    });
    store.insert(&old, keep(1, t)).await.unwrap();
    let next = rotation(t.saturating_add(Duration::from_secs(7200)));
    store
        .rotate(&old.id, &stale, &next)
        .await
        .unwrap()
        .expect("rotated");
    assert!(!exists(&format!("{p}:ro:{}", old.id)).await);
    assert_eq!(store.get_by_refresh(&stale).await.unwrap(), None);
}
