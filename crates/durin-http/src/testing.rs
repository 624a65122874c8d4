//! Test helpers for applications (feature `testing`): an in-memory durin stack and ready
//! `Authorization` headers, so a handler test can run "with a user logged in" without a
//! database, a password or a login request.
//!
//! ```
//! use durin_core::{Client, ClientName};
//! use durin_http::testing::TestStack;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let stack = TestStack::new();
//! stack
//!     .add_client(Client::new(ClientName::new("reports").unwrap()).with_scopes(["reports:read"]))
//!     .await;
//! let header = stack.login_as("alice", "web").await; // "Bearer durin_..."
//! assert!(header.starts_with("Bearer durin_"));
//! // Build the application's router (or actix `App`) on `stack.api()` and send
//! // requests with `Authorization: {header}`.
//! let api = stack.api();
//! # let _ = api;
//! # }
//! ```
//!
//! With axum, `tower::ServiceExt::oneshot` sends one request through the router; with
//! actix-web, `actix_web::test::init_service` and `call_service`. `durin-axum` and
//! `durin-actix` re-export this module as `durin_axum::testing` / `durin_actix::testing`
//! under their own `testing` feature.

use std::sync::Arc;

use async_trait::async_trait;
use durin_core::{
    Client, ClientName, DigestKey, Durin, LoginOptions, MemoryStore, MemoryThrottle, StoreError,
    UserId,
};

use crate::{Api, CredentialChecker, HttpConfig};

/// A durin stack in memory: `MemoryStore` for sessions and clients, `MemoryThrottle`, a
/// random key, and an [`Api`] over them. Cheap to clone; clones share the stores.
#[derive(Clone, Debug)]
pub struct TestStack {
    api: Api,
}

/// A [`CredentialChecker`] that knows nobody: every password login fails (400).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoUsers;

#[async_trait]
impl CredentialChecker for NoUsers {
    async fn check(&self, _: &str, _: &str) -> Result<Option<UserId>, StoreError> {
        Ok(None)
    }
}

impl Default for TestStack {
    fn default() -> Self {
        Self::new()
    }
}

impl TestStack {
    /// A stack whose password logins all fail ([`NoUsers`]); use [`TestStack::login_as`].
    pub fn new() -> Self {
        Self::with_checker(Arc::new(NoUsers))
    }

    /// A stack whose `POST login/` checks passwords with `checker` (the application's own).
    pub fn with_checker(checker: Arc<dyn CredentialChecker>) -> Self {
        let store = Arc::new(MemoryStore::new());
        let durin = Durin::builder(store.clone(), store, DigestKey::generate("test"))
            .throttle(Arc::new(MemoryThrottle::new()))
            .build();
        Self::with_durin(durin, HttpConfig::default(), checker)
    }

    /// A stack over a service the test built itself (another store, a `ManualClock`, an
    /// API-access client...).
    pub fn with_durin(
        durin: Durin,
        config: HttpConfig,
        checker: Arc<dyn CredentialChecker>,
    ) -> Self {
        TestStack {
            api: Api::new(durin, config, checker),
        }
    }

    /// The endpoints, to build the application under test on.
    pub fn api(&self) -> Api {
        self.api.clone()
    }

    /// The service.
    pub fn durin(&self) -> &Durin {
        self.api.durin()
    }

    /// Creates or replaces a client (its TTL, rate, scopes...).
    ///
    /// # Panics
    /// When the store fails (it is in memory unless [`TestStack::with_durin`] says
    /// otherwise).
    pub async fn add_client(&self, client: Client) -> &Self {
        self.durin()
            .upsert_client(&client)
            .await
            .expect("store the test client");
        self
    }

    /// Logs `user` in through `client` — created with the default policy when the store
    /// does not know it — and returns the value of a ready `Authorization` header:
    /// `Bearer durin_...`. The token carries the client's scopes.
    ///
    /// # Panics
    /// When `user` or `client` is not a valid name, or the login fails.
    pub async fn login_as(&self, user: &str, client: &str) -> String {
        let user = UserId::new(user).expect("a valid user id");
        let name = ClientName::new(client).expect("a valid client name");
        if self
            .durin()
            .client(&name)
            .await
            .expect("read the test client")
            .is_none()
        {
            self.add_client(Client::new(name.clone())).await;
        }
        let login = self
            .durin()
            .login(&user, &name, LoginOptions::default())
            .await
            .expect("log the test user in");
        format!(
            "{} {}",
            self.api.config().challenge_keyword(),
            login.token.expose_secret()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RequestInfo;

    #[tokio::test]
    async fn login_as_gives_a_header_that_authenticates() {
        let stack = TestStack::new();
        stack
            .add_client(Client::new(ClientName::new("reports").unwrap()).with_scopes(["read"]))
            .await;
        let header = stack.login_as("alice", "reports").await;
        let info = RequestInfo {
            authorization: Some(header.as_bytes()),
            safe_method: true,
            ..RequestInfo::default()
        };
        let auth = stack.api().authenticate(&info).await.unwrap().unwrap();
        assert_eq!(auth.user_id().as_str(), "alice");
        assert_eq!(auth.client.name.as_str(), "reports");
        assert!(auth.has_scope("read"));
        // A client the store did not know is created on the fly.
        let other = stack.login_as("bob", "web").await;
        assert_ne!(other, header);
    }
}
