//! The `SettingsStore` conformance suite; see [`crate::settings_store_tests`].

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::{client, user};
use crate::SettingsStore;

type Store = Arc<dyn SettingsStore>;

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

/// Nothing stored reads as `None`.
pub async fn missing_settings_are_none(store: Store) {
    assert_eq!(store.get_settings(&user(), &client()).await.unwrap(), None);
}

/// A stored object comes back exactly, nested values and all.
pub async fn put_then_get_round_trips(store: Store) {
    let (u, c) = (user(), client());
    let settings = object(json!({
        "theme": "dark",
        "display_name": "Ann Ü ☃",
        "avatar": {"url": "https://example.com/a.png", "size": [64, 64]},
        "beta": true,
        "volume": 0.5,
        "nothing": null,
    }));
    store.put_settings(&u, &c, &settings).await.unwrap();
    assert_eq!(store.get_settings(&u, &c).await.unwrap(), Some(settings));
}

/// A second put replaces the whole object.
pub async fn put_replaces_the_object(store: Store) {
    let (u, c) = (user(), client());
    store
        .put_settings(&u, &c, &object(json!({"theme": "dark", "lang": "en"})))
        .await
        .unwrap();
    let second = object(json!({"theme": "light"}));
    store.put_settings(&u, &c, &second).await.unwrap();
    assert_eq!(store.get_settings(&u, &c).await.unwrap(), Some(second));
    store.put_settings(&u, &c, &Map::new()).await.unwrap();
    assert_eq!(store.get_settings(&u, &c).await.unwrap(), Some(Map::new()));
}

/// Settings are separate per user and per client.
pub async fn settings_are_per_user_and_client(store: Store) {
    let (u, other_user, c, other_client) = (user(), user(), client(), client());
    let mine = object(json!({"theme": "dark"}));
    store.put_settings(&u, &c, &mine).await.unwrap();
    assert_eq!(store.get_settings(&u, &other_client).await.unwrap(), None);
    assert_eq!(store.get_settings(&other_user, &c).await.unwrap(), None);
    let elsewhere = object(json!({"theme": "light"}));
    store
        .put_settings(&u, &other_client, &elsewhere)
        .await
        .unwrap();
    assert_eq!(store.get_settings(&u, &c).await.unwrap(), Some(mine));
    assert_eq!(
        store.get_settings(&u, &other_client).await.unwrap(),
        Some(elsewhere)
    );
}

/// Delete says whether there was anything, and removes only that pair.
pub async fn delete_reports_whether_it_existed(store: Store) {
    let (u, c, other_client) = (user(), client(), client());
    assert!(!store.delete_settings(&u, &c).await.unwrap());
    store
        .put_settings(&u, &c, &object(json!({"a": 1})))
        .await
        .unwrap();
    store
        .put_settings(&u, &other_client, &object(json!({"b": 2})))
        .await
        .unwrap();
    assert!(store.delete_settings(&u, &c).await.unwrap());
    assert_eq!(store.get_settings(&u, &c).await.unwrap(), None);
    assert!(
        store
            .get_settings(&u, &other_client)
            .await
            .unwrap()
            .is_some()
    );
    assert!(!store.delete_settings(&u, &c).await.unwrap());
}

/// Concurrent puts leave one of the written objects, whole.
pub async fn concurrent_puts_leave_one_whole_object(store: Store) {
    let (u, c) = (user(), client());
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let (store, u, c) = (store.clone(), u.clone(), c.clone());
            tokio::spawn(async move {
                let settings = object(json!({"writer": i, "payload": "x".repeat(100 * i)}));
                store.put_settings(&u, &c, &settings).await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let got = store.get_settings(&u, &c).await.unwrap().unwrap();
    let i = got["writer"].as_u64().unwrap() as usize;
    assert_eq!(got["payload"], json!("x".repeat(100 * i)));
}

/// `list_settings` pages through every stored object once (keyset pages), deleted
/// ones gone; a zero limit lists nothing.
pub async fn list_settings_pages_through_every_object(store: Store) {
    let (u, other_user) = (user(), user());
    let clients: Vec<_> = (0..4).map(|_| client()).collect();
    for (i, c) in clients.iter().enumerate() {
        store
            .put_settings(&u, c, &object(json!({ "n": i })))
            .await
            .unwrap();
    }
    store
        .put_settings(&other_user, &clients[0], &object(json!({ "other": true })))
        .await
        .unwrap();
    assert!(store.delete_settings(&u, &clients[3]).await.unwrap());
    assert!(store.list_settings(None, 0).await.unwrap().is_empty());

    let mut seen = std::collections::HashSet::new();
    let mut mine = std::collections::HashMap::new();
    let mut after: Option<(crate::UserId, crate::ClientName)> = None;
    loop {
        let page = store
            .list_settings(after.as_ref().map(|(u, c)| (u, c)), 2)
            .await
            .unwrap();
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        after = Some((last.user.clone(), last.client.clone()));
        for entry in page {
            assert!(
                seen.insert((entry.user.clone(), entry.client.clone())),
                "listed twice: {entry:?}"
            );
            if entry.user == u {
                mine.insert(entry.client.clone(), entry.settings.clone());
            }
        }
    }
    assert_eq!(mine.len(), 3, "{mine:?}");
    for (i, c) in clients.iter().take(3).enumerate() {
        assert_eq!(mine[c], object(json!({ "n": i })));
    }
    assert!(seen.contains(&(other_user, clients[0].clone())));
}
