//! The `SessionAdmin` conformance suite; see [`crate::session_admin_tests`].

use std::collections::BTreeSet;
use std::sync::Arc;

use super::{client, keep, now, session, user};
use crate::{SessionAdmin, SessionId, SessionQuery, TokenStore};

/// Walking pages with the cursor visits every session once, in id order.
pub async fn pages_follow_the_cursor_without_gaps<S>(store: Arc<S>)
where
    S: SessionAdmin + TokenStore,
{
    let admin = store.clone();
    let (u, t) = (user(), now());
    let mut expected = BTreeSet::new();
    for _ in 0..7 {
        let s = session(&u, &client(), t);
        store.insert(&s, keep(1, t)).await.unwrap();
        expected.insert(s.id);
    }
    let mut seen: Vec<SessionId> = Vec::new();
    let mut after = None;
    loop {
        let page = admin
            .list_sessions(&SessionQuery {
                user: Some(u.clone()),
                client: None,
                after: after.clone(),
                limit: 3,
            })
            .await
            .unwrap();
        assert!(page.len() <= 3);
        if page.is_empty() {
            break;
        }
        after = page.last().map(|s| s.id.clone());
        seen.extend(page.into_iter().map(|s| s.id));
    }
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "pages are in id order");
    assert_eq!(seen.into_iter().collect::<BTreeSet<_>>(), expected);
}

/// Filters by user and by client combine.
pub async fn filters_by_user_and_client<S>(store: Arc<S>)
where
    S: SessionAdmin + TokenStore,
{
    let admin = store.clone();
    let (u, other, c, t) = (user(), user(), client(), now());
    let mine = session(&u, &c, t);
    let mine_elsewhere = session(&u, &client(), t);
    let theirs = session(&other, &c, t);
    for s in [&mine, &mine_elsewhere, &theirs] {
        store.insert(s, keep(1, t)).await.unwrap();
    }
    let page = admin
        .list_sessions(&SessionQuery {
            user: Some(u.clone()),
            client: Some(c.clone()),
            after: None,
            limit: 100,
        })
        .await
        .unwrap();
    assert_eq!(page, vec![mine.clone()]);
    let by_client = admin
        .list_sessions(&SessionQuery {
            user: None,
            client: Some(c.clone()),
            after: None,
            limit: 100,
        })
        .await
        .unwrap();
    let ids: BTreeSet<_> = by_client.into_iter().map(|s| s.id).collect();
    assert_eq!(ids, BTreeSet::from([mine.id, theirs.id]));
}

/// Per-client counting and removal.
pub async fn counts_and_removes_client_sessions<S>(store: Arc<S>)
where
    S: SessionAdmin + TokenStore,
{
    let admin = store.clone();
    let (c, t) = (client(), now());
    let mut digests = Vec::new();
    for _ in 0..3 {
        let s = session(&user(), &c, t);
        store.insert(&s, keep(1, t)).await.unwrap();
        digests.push(s.digest);
    }
    let untouched = session(&user(), &client(), t);
    store.insert(&untouched, keep(1, t)).await.unwrap();
    assert_eq!(admin.count_client_sessions(&c).await.unwrap(), 3);
    assert_eq!(admin.remove_client_sessions(&c).await.unwrap(), 3);
    assert_eq!(admin.count_client_sessions(&c).await.unwrap(), 0);
    for d in digests {
        assert_eq!(store.get(&d).await.unwrap(), None);
    }
    assert!(store.get(&untouched.digest).await.unwrap().is_some());
}
