//! Guard rules against a real service over the in-memory store.

use std::sync::Arc;

use durin_core::{
    Client, ClientName, ClientStore, DigestKey, Durin, LoginOptions, MemoryStore, StoreError,
    Transport, UserId,
};
use durin_http::{Api, CredentialChecker, GuardRule, HttpConfig};

struct NoUsers;

#[async_trait::async_trait]
impl CredentialChecker for NoUsers {
    async fn check(&self, _: &str, _: &str) -> Result<Option<UserId>, StoreError> {
        Ok(None)
    }
}

#[tokio::test]
async fn scopes_and_clients_are_enforced() {
    let store = Arc::new(MemoryStore::new());
    let durin = Durin::builder(store.clone(), store.clone(), DigestKey::generate("k")).build();
    let web = ClientName::new("web").unwrap();
    store
        .create_client(&Client::new(web.clone()).with_scopes(["read", "write"]))
        .await
        .unwrap();
    let login = durin
        .login(
            &UserId::new("u").unwrap(),
            &web,
            LoginOptions {
                scopes: Some(vec!["read".to_owned()]),
                ..LoginOptions::default()
            },
        )
        .await
        .unwrap();
    let auth = durin
        .authenticate(&login.token, Transport::Header)
        .await
        .unwrap();
    let api = Api::new(durin, HttpConfig::default(), Arc::new(NoUsers));
    let set = |names: &[&str]| names.iter().map(|s| s.to_string()).collect();

    assert!(
        GuardRule::Scopes(vec!["read".into()])
            .check(&api, &auth)
            .await
            .is_ok()
    );
    let refused = GuardRule::Scopes(vec!["read".into(), "write".into()])
        .check(&api, &auth)
        .await
        .unwrap_err();
    assert_eq!(refused.status, 403);
    assert!(
        GuardRule::AllowClients(set(&["web"]))
            .check(&api, &auth)
            .await
            .is_ok()
    );
    assert_eq!(
        GuardRule::AllowClients(set(&["cli"]))
            .check(&api, &auth)
            .await
            .unwrap_err()
            .status,
        403
    );
    assert_eq!(
        GuardRule::DenyClients(set(&["web"]))
            .check(&api, &auth)
            .await
            .unwrap_err()
            .status,
        403
    );
    assert!(
        GuardRule::DenyClients(set(&["cli"]))
            .check(&api, &auth)
            .await
            .is_ok()
    );
    // No rate for the client and no default: the throttle never refuses.
    for _ in 0..10 {
        assert!(GuardRule::Throttle.check(&api, &auth).await.is_ok());
    }
}
