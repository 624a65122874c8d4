//! The `ClientStore` conformance suite; see [`crate::client_store_tests`].

use std::sync::Arc;
use std::time::Duration;

use super::client;
use crate::{Client, ClientStore, Renewal, StoreError, TokenPrefix};

type Store = Arc<dyn ClientStore>;

fn full_client() -> Client {
    Client::new(client())
        .with_token_ttl(Some(Duration::from_secs(600)))
        .with_throttle_rate(Some("7/m".parse().unwrap()))
        .with_max_tokens_per_user(std::num::NonZeroU32::new(3).unwrap())
        .with_renewal(Renewal::Sliding {
            min_interval: Duration::from_secs(30),
        })
        .with_max_lifetime(Some(Duration::from_secs(86_400)))
        .with_refresh_ttl(Some(Duration::from_secs(7200)))
        .with_scopes(["read", "write"])
        .with_prefix(Some(TokenPrefix::new("app").unwrap()))
}

/// A client comes back exactly as created, policy and all.
pub async fn create_then_get_round_trips_every_field(store: Store) {
    let c = full_client();
    store.create_client(&c).await.unwrap();
    assert_eq!(store.get_client(&c.name).await.unwrap(), Some(c));
    let plain = Client::new(client()).with_token_ttl(None);
    store.create_client(&plain).await.unwrap();
    assert_eq!(store.get_client(&plain.name).await.unwrap(), Some(plain));
}

/// An unknown name finds nothing.
pub async fn unknown_client_is_none(store: Store) {
    assert_eq!(store.get_client(&client()).await.unwrap(), None);
}

/// Creating a name twice is a conflict, and the first stays.
pub async fn duplicate_create_is_a_conflict(store: Store) {
    let c = Client::new(client());
    store.create_client(&c).await.unwrap();
    let again = c
        .clone()
        .with_max_tokens_per_user(std::num::NonZeroU32::new(9).unwrap());
    let err = store.create_client(&again).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(store.get_client(&c.name).await.unwrap(), Some(c));
}

/// Upsert creates a missing client and replaces an existing one's policy.
pub async fn upsert_creates_then_replaces(store: Store) {
    let c = Client::new(client());
    store.upsert_client(&c).await.unwrap();
    assert_eq!(store.get_client(&c.name).await.unwrap(), Some(c.clone()));
    let changed = c
        .with_token_ttl(Some(Duration::from_secs(30)))
        .with_max_tokens_per_user(std::num::NonZeroU32::new(4).unwrap());
    store.upsert_client(&changed).await.unwrap();
    assert_eq!(
        store.get_client(&changed.name).await.unwrap(),
        Some(changed)
    );
}

/// Delete says whether the client existed.
pub async fn delete_reports_whether_it_existed(store: Store) {
    let c = Client::new(client());
    store.create_client(&c).await.unwrap();
    assert!(store.delete_client(&c.name).await.unwrap());
    assert!(!store.delete_client(&c.name).await.unwrap());
    assert_eq!(store.get_client(&c.name).await.unwrap(), None);
}

/// Listing includes created clients, in name order.
pub async fn list_includes_created_clients_in_name_order(store: Store) {
    let a = Client::new(client());
    let b = full_client();
    store.create_client(&a).await.unwrap();
    store.create_client(&b).await.unwrap();
    let listed = store.list_clients().await.unwrap();
    let names: Vec<_> = listed.iter().map(|c| c.name.clone()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "clients are listed by name");
    assert!(listed.contains(&a));
    assert!(listed.contains(&b));
}
