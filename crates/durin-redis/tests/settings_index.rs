//! `list_settings` on one server also finds settings written before the settings index
//! existed (an earlier version wrote only the record): the first page of a walk adds them.

mod common;

use common::{config, raw_connection, store_with};
use durin_core::{ClientName, SettingsStore, UserId};
use redis::AsyncCommands;
use serde_json::json;

#[tokio::test]
async fn settings_written_before_the_index_are_listed() {
    let config = config();
    let prefix = config.prefix().to_owned();
    let store = store_with(config).await;
    let (alice, web) = (
        UserId::new("alice:{x}*").unwrap(),
        ClientName::new("web").unwrap(),
    );
    // The record as an earlier version wrote it: no index entry.
    let key = format!("{prefix}:u:{{{alice}}}:st:{web}");
    let _: () = raw_connection()
        .await
        .set(&key, r#"{"v":1,"settings":{"theme":"dark"}}"#)
        .await
        .unwrap();
    let bob = UserId::new("bob").unwrap();
    let mut settings = serde_json::Map::new();
    settings.insert("lang".into(), json!("en"));
    store.put_settings(&bob, &web, &settings).await.unwrap();

    let listed = store.list_settings(None, 10).await.unwrap();
    let users: Vec<&str> = listed.iter().map(|e| e.user.as_str()).collect();
    assert_eq!(users, ["alice:{x}*", "bob"], "{listed:?}");
    assert_eq!(listed[0].settings["theme"], json!("dark"));
    // Keyset pages: one at a time, then nothing.
    let first = store.list_settings(None, 1).await.unwrap();
    let second = store
        .list_settings(Some((&first[0].user, &first[0].client)), 1)
        .await
        .unwrap();
    assert_eq!(second[0].user, bob);
    assert!(
        store
            .list_settings(Some((&second[0].user, &second[0].client)), 1)
            .await
            .unwrap()
            .is_empty()
    );
}
