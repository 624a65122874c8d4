//! The `TokenStore` conformance suite. Each function is one behaviour; see
//! [`crate::token_store_tests`].

use std::sync::Arc;
use std::time::Duration;

use super::{client, digest, ids, keep, now, session, user};
use crate::{
    InsertOutcome, InsertPolicy, RefreshLookup, RefreshState, Refusal, Removal, Rotation, Session,
    TokenName, TokenStore, Transport, WhenFull,
};

type Store = Arc<dyn TokenStore>;

async fn put(store: &Store, s: &Session, max: u32) -> Vec<Session> {
    store
        .insert(s, keep(max, s.created_at))
        .await
        .expect("insert")
        .into_removed()
        .expect("an evicting insert is never refused")
}

/// `get`, as an owned session for comparisons.
async fn get(store: &Store, digest: &crate::TokenDigest) -> Option<Session> {
    store
        .get(digest)
        .await
        .expect("get")
        .map(Arc::unwrap_or_clone)
}

/// A session comes back from `get` exactly as inserted.
pub async fn insert_then_get_round_trips_every_field(store: Store) {
    let t = now();
    let mut s = session(&user(), &client(), t);
    s.scopes = vec!["read".into(), "write".into()];
    s.context.insert("device".into(), "phone".into());
    s.context
        .insert("ip".into(), serde_json::json!({"v4": "127.0.0.1", "n": 3}));
    s.transport = Transport::Cookie;
    s.refresh = Some(RefreshState {
        digest: digest(),
        expires_at: t.saturating_add(Duration::from_secs(7200)),
    });
    assert!(put(&store, &s, 1).await.is_empty());
    assert_eq!(get(&store, &s.digest).await, Some(s.clone()));

    let mut forever = session(&user(), &client(), t);
    forever.expires_at = None;
    put(&store, &forever, 1).await;
    assert_eq!(get(&store, &forever.digest).await, Some(forever));
}

/// An unknown digest finds nothing.
pub async fn unknown_digest_is_none(store: Store) {
    assert_eq!(get(&store, &digest()).await, None);
    assert_eq!(store.get_by_refresh(&digest()).await.unwrap(), None);
}

/// `get_by_id` finds a session by its public id.
pub async fn get_by_id_finds_the_session(store: Store) {
    let s = session(&user(), &client(), now());
    put(&store, &s, 1).await;
    assert_eq!(store.get_by_id(&s.id).await.unwrap(), Some(s));
    assert_eq!(
        store
            .get_by_id(&crate::SessionId::generate())
            .await
            .unwrap(),
        None
    );
}

/// Beyond `max_per_client`, the oldest sessions of the pair are removed and returned.
pub async fn insert_evicts_the_oldest_beyond_max(store: Store) {
    let (u, c, t) = (user(), client(), now());
    let a = session(&u, &c, t);
    let b = session(&u, &c, t.saturating_add(Duration::from_millis(10)));
    let d = session(&u, &c, t.saturating_add(Duration::from_millis(20)));
    assert!(put(&store, &a, 2).await.is_empty());
    assert!(put(&store, &b, 2).await.is_empty());
    let removed = put(&store, &d, 2).await;
    assert_eq!(ids(&removed), ids(std::slice::from_ref(&a)));
    assert_eq!(get(&store, &a.digest).await, None);
    assert!(get(&store, &b.digest).await.is_some());
    assert!(get(&store, &d.digest).await.is_some());
    // Durin's default: one token per user per client.
    let e = session(&u, &c, t.saturating_add(Duration::from_millis(30)));
    let removed = put(&store, &e, 1).await;
    assert_eq!(ids(&removed), ids(&[b, d]));
}

/// Eviction only counts the same user's sessions of the same client.
pub async fn eviction_counts_only_the_same_user_and_client(store: Store) {
    let (u, other_user, c, other_client, t) = (user(), user(), client(), client(), now());
    let mine = session(&u, &c, t);
    let mine_elsewhere = session(&u, &other_client, t);
    let theirs = session(&other_user, &c, t);
    for s in [&mine, &mine_elsewhere, &theirs] {
        put(&store, s, 1).await;
    }
    let newer = session(&u, &c, t.saturating_add(Duration::from_millis(5)));
    let removed = put(&store, &newer, 1).await;
    assert_eq!(ids(&removed), ids(std::slice::from_ref(&mine)));
    assert!(get(&store, &mine_elsewhere.digest).await.is_some());
    assert!(get(&store, &theirs.digest).await.is_some());
}

/// Expired and revoked sessions do not count against the cap and are not evicted.
pub async fn eviction_ignores_expired_and_revoked_sessions(store: Store) {
    let (u, c, t) = (user(), client(), now());
    let mut expired = session(&u, &c, t.saturating_sub(Duration::from_secs(20)));
    expired.expires_at = Some(t.saturating_sub(Duration::from_secs(10)));
    put(&store, &expired, 1).await;
    let live = session(&u, &c, t);
    let removed = store
        .insert(&live, keep(1, t))
        .await
        .unwrap()
        .into_removed()
        .unwrap();
    assert!(
        removed.is_empty(),
        "an expired session is not live: {removed:?}"
    );
    assert!(get(&store, &expired.digest).await.is_some());

    let revoked_at = t.saturating_add(Duration::from_millis(1));
    store
        .remove(&live.id, Removal::Revoke { at: revoked_at })
        .await
        .unwrap();
    let next = session(&u, &c, t.saturating_add(Duration::from_millis(2)));
    let removed = store
        .insert(&next, keep(1, next.created_at))
        .await
        .unwrap()
        .into_removed()
        .unwrap();
    assert!(
        removed.is_empty(),
        "a revoked session is not live: {removed:?}"
    );
}

/// In audit mode, an evicted session stays, marked revoked.
pub async fn audit_mode_eviction_keeps_a_revoked_record(store: Store) {
    let (u, c, t) = (user(), client(), now());
    let old = session(&u, &c, t);
    put(&store, &old, 1).await;
    let new = session(&u, &c, t.saturating_add(Duration::from_millis(5)));
    let at = new.created_at;
    let policy = InsertPolicy {
        removal: Removal::Revoke { at },
        ..keep(1, at)
    };
    let removed = store
        .insert(&new, policy)
        .await
        .unwrap()
        .into_removed()
        .unwrap();
    assert_eq!(ids(&removed), ids(std::slice::from_ref(&old)));
    let kept = store
        .get(&old.digest)
        .await
        .unwrap()
        .expect("kept for audit");
    assert_eq!(kept.revoked_at, Some(at));
}

/// Single-login removes every other session of the user, all clients.
pub async fn single_login_removes_every_other_session(store: Store) {
    let (u, t) = (user(), now());
    let a = session(&u, &client(), t);
    let b = session(&u, &client(), t);
    let theirs = session(&user(), &client(), t);
    for s in [&a, &b, &theirs] {
        put(&store, s, 5).await;
    }
    let only = session(&u, &client(), t.saturating_add(Duration::from_millis(1)));
    let policy = InsertPolicy {
        single_login: true,
        ..keep(5, only.created_at)
    };
    let removed = store
        .insert(&only, policy)
        .await
        .unwrap()
        .into_removed()
        .unwrap();
    assert_eq!(ids(&removed), ids(&[a, b]));
    assert_eq!(ids(&store.list_by_user(&u).await.unwrap()), ids(&[only]));
    assert!(get(&store, &theirs.digest).await.is_some());
}

/// A digest that exists already is refused, and nothing changes.
pub async fn duplicate_digest_is_refused(store: Store) {
    let (u, c, t) = (user(), client(), now());
    let first = session(&u, &c, t);
    put(&store, &first, 5).await;
    let mut clash = session(&u, &c, t);
    clash.digest = first.digest;
    assert!(store.insert(&clash, keep(5, t)).await.is_err());
    assert_eq!(get(&store, &first.digest).await, Some(first));
    assert_eq!(store.get_by_id(&clash.id).await.unwrap(), None);
}

/// Listing returns only the user's sessions, oldest first.
pub async fn list_by_user_is_oldest_first_and_isolated(store: Store) {
    let (u, t) = (user(), now());
    let later = session(&u, &client(), t.saturating_add(Duration::from_millis(50)));
    let earlier = session(&u, &client(), t);
    put(&store, &later, 1).await;
    put(&store, &earlier, 1).await;
    put(&store, &session(&user(), &client(), t), 1).await;
    let listed = store.list_by_user(&u).await.unwrap();
    assert_eq!(listed, vec![earlier, later]);
    assert!(store.list_by_user(&user()).await.unwrap().is_empty());
}

/// `extend` moves the expiry and records the renewal.
pub async fn extend_moves_the_expiry(store: Store) {
    let s = session(&user(), &client(), now());
    put(&store, &s, 1).await;
    let at = s.created_at.saturating_add(Duration::from_secs(5));
    let until = at.saturating_add(Duration::from_secs(7200));
    let updated = store.extend(&s.id, Some(until), at).await.unwrap().unwrap();
    assert_eq!(updated.expires_at, Some(until));
    assert_eq!(updated.renewed_at, Some(at));
    assert_eq!(get(&store, &s.digest).await, Some(updated));
    let forever = store.extend(&s.id, None, at).await.unwrap().unwrap();
    assert_eq!(forever.expires_at, None);
}

/// Extending a deleted session does not bring it back.
pub async fn extend_never_resurrects_a_removed_session(store: Store) {
    let s = session(&user(), &client(), now());
    put(&store, &s, 1).await;
    store.remove(&s.id, Removal::Delete).await.unwrap();
    let later = s.created_at.saturating_add(Duration::from_secs(9999));
    assert_eq!(store.extend(&s.id, Some(later), later).await.unwrap(), None);
    assert_eq!(get(&store, &s.digest).await, None);
    assert_eq!(store.get_by_id(&s.id).await.unwrap(), None);
}

/// Extending a revoked session leaves it revoked.
pub async fn extend_never_resurrects_a_revoked_session(store: Store) {
    let s = session(&user(), &client(), now());
    put(&store, &s, 1).await;
    let at = s.created_at;
    store.remove(&s.id, Removal::Revoke { at }).await.unwrap();
    let later = at.saturating_add(Duration::from_secs(9999));
    assert_eq!(store.extend(&s.id, Some(later), later).await.unwrap(), None);
    let kept = get(&store, &s.digest).await.unwrap();
    assert_eq!(kept.revoked_at, Some(at));
    assert_eq!(kept.expires_at, s.expires_at);
}

/// `touch` records the last use; touching a missing session is not an error.
pub async fn touch_records_last_use(store: Store) {
    let s = session(&user(), &client(), now());
    put(&store, &s, 1).await;
    let at = s.created_at.saturating_add(Duration::from_secs(3));
    store.touch(&s.id, at).await.unwrap();
    let got = get(&store, &s.digest).await.unwrap();
    assert_eq!(got.last_used_at, Some(at));
    store
        .touch(&crate::SessionId::generate(), at)
        .await
        .unwrap();
}

/// `rekey` swaps the digest when the old one matches, and only then.
pub async fn rekey_replaces_the_digest(store: Store) {
    let s = session(&user(), &client(), now());
    put(&store, &s, 1).await;
    let new = digest();
    assert!(!store.rekey(&s.id, &digest(), &new).await.unwrap());
    assert!(store.rekey(&s.id, &s.digest, &new).await.unwrap());
    assert_eq!(get(&store, &s.digest).await, None);
    let got = get(&store, &new).await.unwrap();
    assert_eq!((got.id, got.digest), (s.id, new));
}

/// Rotation swaps both tokens; the presented refresh digest is then recognised as rotated.
pub async fn rotate_replaces_both_tokens_and_remembers_the_old_refresh(store: Store) {
    let t = now();
    let mut s = session(&user(), &client(), t);
    let first_refresh = digest();
    s.refresh = Some(RefreshState {
        digest: first_refresh,
        expires_at: t.saturating_add(Duration::from_secs(7200)),
    });
    put(&store, &s, 1).await;
    assert_eq!(
        store.get_by_refresh(&first_refresh).await.unwrap(),
        Some(RefreshLookup::Current(Box::new(s.clone())))
    );
    let at = t.saturating_add(Duration::from_secs(60));
    let rotation = Rotation {
        previous_digest: s.digest,
        digest: digest(),
        refresh_digest: digest(),
        refresh_expires_at: at.saturating_add(Duration::from_secs(7200)),
        expires_at: Some(at.saturating_add(Duration::from_secs(3600))),
        at,
    };
    let rotated = store
        .rotate(&s.id, &first_refresh, &rotation)
        .await
        .unwrap()
        .expect("rotated");
    assert_eq!(rotated.id, s.id);
    assert_eq!(rotated.digest, rotation.digest);
    assert_eq!(rotated.expires_at, rotation.expires_at);
    assert_eq!(rotated.renewed_at, Some(at));
    assert_eq!(
        rotated.refresh,
        Some(RefreshState {
            digest: rotation.refresh_digest,
            expires_at: rotation.refresh_expires_at
        })
    );
    assert_eq!(get(&store, &s.digest).await, None, "old access token");
    assert_eq!(get(&store, &rotation.digest).await, Some(rotated.clone()));
    assert_eq!(
        store.get_by_refresh(&first_refresh).await.unwrap(),
        Some(RefreshLookup::Rotated(s.id.clone()))
    );
    assert_eq!(
        store
            .get_by_refresh(&rotation.refresh_digest)
            .await
            .unwrap(),
        Some(RefreshLookup::Current(Box::new(rotated)))
    );
}

/// A rotation presenting a refresh digest that is no longer current changes nothing.
pub async fn rotate_with_a_stale_refresh_digest_does_nothing(store: Store) {
    let t = now();
    let mut s = session(&user(), &client(), t);
    s.refresh = Some(RefreshState {
        digest: digest(),
        expires_at: t.saturating_add(Duration::from_secs(7200)),
    });
    put(&store, &s, 1).await;
    let rotation = Rotation {
        previous_digest: s.digest,
        digest: digest(),
        refresh_digest: digest(),
        refresh_expires_at: t.saturating_add(Duration::from_secs(9000)),
        expires_at: None,
        at: t,
    };
    assert_eq!(
        store.rotate(&s.id, &digest(), &rotation).await.unwrap(),
        None
    );
    assert_eq!(get(&store, &s.digest).await, Some(s.clone()));
    store.remove(&s.id, Removal::Delete).await.unwrap();
    let presented = s.refresh.as_ref().unwrap().digest;
    assert_eq!(
        store.rotate(&s.id, &presented, &rotation).await.unwrap(),
        None
    );
}

/// `remove` returns the session once, then nothing.
pub async fn remove_deletes_once(store: Store) {
    let s = session(&user(), &client(), now());
    put(&store, &s, 1).await;
    assert_eq!(
        store.remove(&s.id, Removal::Delete).await.unwrap(),
        Some(s.clone())
    );
    assert_eq!(store.remove(&s.id, Removal::Delete).await.unwrap(), None);
    assert_eq!(get(&store, &s.digest).await, None);
    assert!(store.list_by_user(&s.user_id).await.unwrap().is_empty());
}

/// In audit mode `remove` keeps the record with `revoked_at`, and only once.
pub async fn remove_in_audit_mode_marks_revoked(store: Store) {
    let s = session(&user(), &client(), now());
    put(&store, &s, 1).await;
    let at = s.created_at.saturating_add(Duration::from_secs(1));
    assert_eq!(
        store.remove(&s.id, Removal::Revoke { at }).await.unwrap(),
        Some(s.clone())
    );
    assert_eq!(
        store.remove(&s.id, Removal::Revoke { at }).await.unwrap(),
        None
    );
    let kept = get(&store, &s.digest).await.unwrap();
    assert_eq!(kept.revoked_at, Some(at));
}

/// `remove_user` ends every session of the user across clients, except the one kept.
pub async fn remove_user_removes_every_client_and_honours_except(store: Store) {
    let (u, t) = (user(), now());
    let sessions: Vec<Session> = (0..4).map(|_| session(&u, &client(), t)).collect();
    for s in &sessions {
        put(&store, s, 1).await;
    }
    let kept = &sessions[2];
    let removed = store
        .remove_user(&u, Some(&kept.id), Removal::Delete)
        .await
        .unwrap();
    assert_eq!(removed.len(), 3);
    assert_eq!(
        ids(&store.list_by_user(&u).await.unwrap()),
        ids(std::slice::from_ref(kept))
    );
    let removed = store.remove_user(&u, None, Removal::Delete).await.unwrap();
    assert_eq!(ids(&removed), ids(std::slice::from_ref(kept)));
    assert!(
        store
            .remove_user(&u, None, Removal::Delete)
            .await
            .unwrap()
            .is_empty()
    );
}

/// `remove_user` leaves other users alone.
pub async fn remove_user_is_isolated_per_user(store: Store) {
    let (u, other, c, t) = (user(), user(), client(), now());
    put(&store, &session(&u, &c, t), 1).await;
    let theirs = session(&other, &c, t);
    put(&store, &theirs, 1).await;
    assert_eq!(
        store
            .remove_user(&u, None, Removal::Delete)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(get(&store, &theirs.digest).await, Some(theirs));
}

/// Purge deletes sessions that expired before the cut-off and keeps the rest.
pub async fn purge_deletes_only_long_expired_sessions(store: Store) {
    let (u, c, t) = (user(), client(), now());
    let mut long_gone = session(&u, &c, t.saturating_sub(Duration::from_secs(7200)));
    long_gone.expires_at = Some(t.saturating_sub(Duration::from_secs(3700)));
    let mut recently = session(&u, &client(), t.saturating_sub(Duration::from_secs(600)));
    recently.expires_at = Some(t.saturating_sub(Duration::from_secs(60)));
    let live = session(&u, &client(), t);
    let mut forever = session(&u, &client(), t);
    forever.expires_at = None;
    for s in [&long_gone, &recently, &live, &forever] {
        put(&store, s, 5).await;
    }
    let cutoff = t.saturating_sub(Duration::from_secs(3600));
    // (Stores with native expiry may have dropped `long_gone` already.)
    while store.purge_expired(cutoff, 1000).await.unwrap() == 1000 {}
    assert_eq!(get(&store, &long_gone.digest).await, None);
    for s in [&recently, &live, &forever] {
        assert!(get(&store, &s.digest).await.is_some(), "{:?}", s.id);
    }
}

/// A session whose access token expired long ago but whose refresh token still lives
/// is kept: the refresh token must go on working.
pub async fn purge_keeps_sessions_with_a_live_refresh_token(store: Store) {
    let t = now();
    let mut s = session(
        &user(),
        &client(),
        t.saturating_sub(Duration::from_secs(9000)),
    );
    s.expires_at = Some(t.saturating_sub(Duration::from_secs(8000)));
    s.refresh = Some(RefreshState {
        digest: digest(),
        expires_at: t.saturating_add(Duration::from_secs(8000)),
    });
    put(&store, &s, 1).await;
    let cutoff = t.saturating_sub(Duration::from_secs(3600));
    while store.purge_expired(cutoff, 1000).await.unwrap() == 1000 {}
    assert!(get(&store, &s.digest).await.is_some());
}

/// Purge deletes at most `batch` sessions per call.
pub async fn purge_respects_the_batch_size(store: Store) {
    let (u, t) = (user(), now());
    for _ in 0..5 {
        let mut s = session(&u, &client(), t.saturating_sub(Duration::from_secs(9000)));
        s.expires_at = Some(t.saturating_sub(Duration::from_secs(8000)));
        put(&store, &s, 5).await;
    }
    let cutoff = t.saturating_sub(Duration::from_secs(3600));
    // At most the batch (stores with native expiry may have dropped some already).
    assert!(store.purge_expired(cutoff, 2).await.unwrap() <= 2);
    while store.purge_expired(cutoff, 1000).await.unwrap() == 1000 {}
    assert!(store.list_by_user(&u).await.unwrap().is_empty());
}

async fn concurrent_logins(store: Store, max: u32, logins: usize) {
    let (u, c, t) = (user(), client(), now());
    let mut tasks = Vec::new();
    for i in 0..logins {
        let store = store.clone();
        let s = session(
            &u,
            &c,
            t.saturating_add(Duration::from_millis(i as u64 % 3)),
        );
        tasks.push(tokio::spawn(async move {
            store.insert(&s, keep(max, s.created_at)).await
        }));
    }
    for task in tasks {
        task.await.expect("task").expect("insert");
    }
    let live: Vec<Session> = store
        .list_by_user(&u)
        .await
        .unwrap()
        .into_iter()
        .filter(|s| s.is_live(t))
        .collect();
    assert_eq!(
        live.len(),
        max as usize,
        "{logins} racing logins, cap {max}"
    );
}

/// 50 concurrent logins for one (user, client) with a cap of 1 leave exactly one.
pub async fn concurrent_logins_leave_at_most_max_live_sessions(store: Store) {
    concurrent_logins(store, 1, 50).await;
}

/// 30 concurrent logins with a cap of 3 leave exactly three.
pub async fn concurrent_logins_with_max_three(store: Store) {
    concurrent_logins(store, 3, 30).await;
}

/// A logout-all racing logins is one atomic step, in both removal modes: nothing issued
/// before it survives, and neither does any login that completed while a session issued
/// before the logout-all was still live (the logout-all had not happened yet, so it must
/// take that login too). A non-atomic list-then-delete `remove_user` lets such logins
/// through; the case proves it catches one by running the same check against
/// [`super::ListThenRemove`] wrapped around this store.
pub async fn logout_all_racing_logins_leaves_nothing_issued_before(store: Store) {
    for how in [Removal::Delete, Removal::Revoke { at: now() }] {
        if let Err(e) = logout_all_race(&store, how).await {
            panic!("{e}");
        }
        let broken: Store = Arc::new(super::ListThenRemove::new(
            store.clone(),
            Duration::from_millis(200),
        ));
        assert!(
            logout_all_race(&broken, how).await.is_err(),
            "the check let a list-then-delete remove_user through ({how:?})"
        );
    }
}

/// Whether the session `id` is stored and not revoked (read past any cache).
async fn live_by_id(store: &Store, id: &crate::SessionId) -> bool {
    store
        .get_by_id(id)
        .await
        .expect("get_by_id")
        .is_some_and(|s| s.revoked_at.is_none())
}

/// One logout-all raced by a stream of logins of the same user; `Err` says what survived.
async fn logout_all_race(store: &Store, how: Removal) -> Result<(), String> {
    let (u, t) = (user(), now());
    let before: Vec<Session> = (0..5).map(|_| session(&u, &client(), t)).collect();
    for s in &before {
        put(store, s, 1).await;
    }
    let logout = {
        let (store, u) = (store.clone(), u.clone());
        tokio::spawn(async move {
            tokio::task::yield_now().await;
            store.remove_user(&u, None, how).await
        })
    };
    let mut must_go = Vec::new();
    for _ in 0..500 {
        let done = logout.is_finished();
        let s = session(&u, &client(), t);
        put(store, &s, 1).await;
        // The login above has completed. If a session issued before the logout-all is
        // still live now, the logout-all has not taken effect yet: it must take this
        // login too.
        if live_by_id(store, &before[0].id).await {
            must_go.push(s);
        }
        if done {
            break;
        }
        tokio::task::yield_now().await;
    }
    logout
        .await
        .expect("logout-all task")
        .map_err(|e| format!("remove_user failed: {e}"))?;
    for s in &before {
        if live_by_id(store, &s.id).await {
            return Err(format!(
                "a session issued before logout-all survived it ({how:?})"
            ));
        }
    }
    for s in &must_go {
        if live_by_id(store, &s.id).await {
            return Err(format!(
                "a login that completed before logout-all took effect survived it ({how:?})"
            ));
        }
    }
    Ok(())
}

/// A renewal racing a revocation never brings the session back.
pub async fn renew_racing_revoke_never_resurrects(store: Store) {
    let t = now();
    for _ in 0..20 {
        let s = session(&user(), &client(), t);
        put(&store, &s, 1).await;
        let later = t.saturating_add(Duration::from_secs(7200));
        let renew = {
            let (store, id) = (store.clone(), s.id.clone());
            tokio::spawn(async move { store.extend(&id, Some(later), later).await })
        };
        let revoke = {
            let (store, id) = (store.clone(), s.id.clone());
            tokio::spawn(async move { store.remove(&id, Removal::Delete).await })
        };
        renew.await.unwrap().unwrap();
        assert!(revoke.await.unwrap().unwrap().is_some());
        assert_eq!(get(&store, &s.digest).await, None);
        assert_eq!(store.get_by_id(&s.id).await.unwrap(), None);
    }
}

/// A refusing insert into a full pair writes nothing and says why.
pub async fn a_refusing_insert_into_a_full_pair_writes_nothing(store: Store) {
    let (u, c, t) = (user(), client(), now());
    let first = session(&u, &c, t);
    let policy = InsertPolicy {
        when_full: WhenFull::Refuse,
        ..keep(1, t)
    };
    assert_eq!(
        store.insert(&first, policy).await.unwrap(),
        InsertOutcome::Inserted { removed: vec![] }
    );
    let second = session(&u, &c, t.saturating_add(Duration::from_millis(1)));
    assert_eq!(
        store.insert(&second, policy).await.unwrap(),
        InsertOutcome::Refused(Refusal::Full)
    );
    assert_eq!(get(&store, &second.digest).await, None);
    assert!(get(&store, &first.digest).await.is_some());
    // Another client's pair is not full.
    let elsewhere = session(&u, &client(), t);
    assert!(matches!(
        store.insert(&elsewhere, policy).await.unwrap(),
        InsertOutcome::Inserted { .. }
    ));
}

/// A named session comes back with its name; a second live one of that name is refused,
/// and the name is free again once the first has expired or been removed.
pub async fn a_live_name_is_taken_and_freed_by_removal(store: Store) {
    let (u, c, t) = (user(), client(), now());
    let name = TokenName::new("laptop").unwrap();
    let mut first = session(&u, &c, t);
    first.name = Some(name.clone());
    store.insert(&first, keep(10, t)).await.unwrap();
    assert_eq!(
        get(&store, &first.digest).await.unwrap().name,
        Some(name.clone())
    );
    let mut clash = session(&u, &client(), t);
    clash.name = Some(name.clone());
    assert_eq!(
        store.insert(&clash, keep(10, t)).await.unwrap(),
        InsertOutcome::Refused(Refusal::NameTaken),
        "names are unique per user, across clients"
    );
    assert_eq!(get(&store, &clash.digest).await, None);
    // Another user may use the name.
    let mut theirs = session(&user(), &c, t);
    theirs.name = Some(name.clone());
    assert!(matches!(
        store.insert(&theirs, keep(10, t)).await.unwrap(),
        InsertOutcome::Inserted { .. }
    ));
    store.remove(&first.id, Removal::Delete).await.unwrap();
    assert!(matches!(
        store.insert(&clash, keep(10, t)).await.unwrap(),
        InsertOutcome::Inserted { .. }
    ));
    // An expired token does not hold its name.
    let mut expired = session(&u, &c, t.saturating_sub(Duration::from_secs(20)));
    expired.name = Some(TokenName::new("old").unwrap());
    expired.expires_at = Some(t.saturating_sub(Duration::from_secs(10)));
    store.insert(&expired, keep(10, t)).await.unwrap();
    let mut again = session(&u, &c, t);
    again.name = Some(TokenName::new("old").unwrap());
    assert!(matches!(
        store.insert(&again, keep(10, t)).await.unwrap(),
        InsertOutcome::Inserted { .. }
    ));
}

/// Of 20 concurrent inserts of one name, exactly one wins.
pub async fn concurrent_inserts_of_one_name_let_exactly_one_win(store: Store) {
    let (u, c, t) = (user(), client(), now());
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            let mut s = session(&u, &c, t);
            s.name = Some(TokenName::new("deploy").unwrap());
            tokio::spawn(async move { store.insert(&s, keep(100, t)).await })
        })
        .collect();
    let mut won = 0;
    for task in tasks {
        match task.await.unwrap().unwrap() {
            InsertOutcome::Inserted { .. } => won += 1,
            InsertOutcome::Refused(why) => assert_eq!(why, Refusal::NameTaken),
        }
    }
    assert_eq!(won, 1);
    assert_eq!(store.list_by_user(&u).await.unwrap().len(), 1);
}

/// 20 concurrent refusing inserts into a pair capped at 3 store exactly 3.
pub async fn concurrent_refusing_inserts_never_exceed_the_cap(store: Store) {
    let (u, c, t) = (user(), client(), now());
    let policy = InsertPolicy {
        when_full: WhenFull::Refuse,
        ..keep(3, t)
    };
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            let s = session(&u, &c, t);
            tokio::spawn(async move { store.insert(&s, policy).await })
        })
        .collect();
    let mut stored = 0;
    for task in tasks {
        match task.await.unwrap().unwrap() {
            InsertOutcome::Inserted { removed } => {
                assert!(removed.is_empty(), "a refusing insert evicts nothing");
                stored += 1;
            }
            InsertOutcome::Refused(why) => assert_eq!(why, Refusal::Full),
        }
    }
    assert_eq!(stored, 3);
    assert_eq!(store.list_by_user(&u).await.unwrap().len(), 3);
}
