//! Conformance suites: one async function per behaviour, for every `TokenStore`,
//! `ClientStore`, `SessionAdmin` and `Throttle` implementation.
//!
//! A store crate runs a whole suite with one macro call in its tests; each call stamps a
//! module of `#[tokio::test]` functions (so the calling crate needs `tokio` with the
//! `macros` and `rt-multi-thread` features as a dev-dependency). The factory is the path
//! of an `async fn() -> Arc<S>` returning a ready store; cases isolate themselves with
//! random user ids and client names, so one shared database serves them all.
//!
//! ```text
//! async fn store() -> std::sync::Arc<MyStore> { std::sync::Arc::new(MyStore::connect(URL).await.unwrap()) }
//! durin_core::token_store_tests!(store);
//! durin_core::client_store_tests!(store);
//! ```
//!
//! To run a suite for two backends in one file, wrap each call in its own module.

pub mod attempt_limiter;
pub mod backend;
pub mod client_store;
mod fixtures;
pub mod invalidation_channel;
pub mod service;
pub mod session_admin;
pub mod settings_store;
pub mod throttle;
pub mod token_store;

pub use fixtures::{Counting, CountingStore, ListThenRemove, MemoryChannel};

/// The parts of a backend the suites of [`crate::backend_tests`] run against; `None`
/// for an ability the backend does not have (its suite then has nothing to run).
#[doc(hidden)]
pub mod parts {
    use std::sync::Arc;

    use crate::{
        AttemptLimiter, Backend, ClientStore, InvalidationChannel, SettingsStore, Throttle,
        TokenStore,
    };

    pub fn tokens(b: Arc<dyn Backend>) -> Option<Arc<dyn TokenStore>> {
        Some(b.tokens())
    }
    pub fn clients(b: Arc<dyn Backend>) -> Option<Arc<dyn ClientStore>> {
        Some(b.clients())
    }
    pub fn settings(b: Arc<dyn Backend>) -> Option<Arc<dyn SettingsStore>> {
        b.settings()
    }
    pub fn throttle(b: Arc<dyn Backend>) -> Option<Arc<dyn Throttle>> {
        b.throttle()
    }
    pub fn attempts(b: Arc<dyn Backend>) -> Option<Arc<dyn AttemptLimiter>> {
        b.attempts()
    }
    pub fn channel(b: Arc<dyn Backend>) -> Option<Arc<dyn InvalidationChannel>> {
        b.channel()
    }
    pub fn backend(b: Arc<dyn Backend>) -> Option<Arc<dyn Backend>> {
        Some(b)
    }

    /// What a node does on a backend without the ability `part`: without a channel, a
    /// shared throttle or a shared attempt limiter it refuses to be one of several
    /// nodes, naming what is missing, and runs as the only one; without settings the
    /// service answers "not configured".
    pub async fn absent(b: Arc<dyn Backend>, part: &str) {
        let key = || crate::DigestKey::generate("absent");
        match part {
            "channel" | "throttle" | "attempts" => {
                let what = match part {
                    "channel" => "invalidation channel",
                    "throttle" => "shared throttle",
                    _ => "shared attempt limiter",
                };
                match crate::Node::builder(b.clone(), key())
                    .without_tasks()
                    .start()
                {
                    Err(crate::NodeError::SingleNodeBackend { missing, .. }) => {
                        assert!(missing.contains(&what), "{missing:?} lacks {what}");
                    }
                    Ok(_) => panic!("a backend without a {what} was accepted for several nodes"),
                }
                let node = crate::Node::builder(b, key())
                    .without_tasks()
                    .single_node()
                    .start()
                    .expect("a single node accepts any backend");
                assert!(node.ready().await, "a single node on this backend is ready");
            }
            "settings" => {
                let node = crate::Node::builder(b, key())
                    .without_tasks()
                    .single_node()
                    .start()
                    .expect("a single node accepts any backend");
                let user = super::user();
                let client = super::client();
                assert!(matches!(
                    node.durin().settings(&user, &client).await,
                    Err(crate::AuthError::NotConfigured(_))
                ));
            }
            other => panic!("every backend has {other}"),
        }
    }
}

use std::time::Duration;

use crate::{
    ClientName, InsertPolicy, Removal, Session, SessionId, Timestamp, TokenDigest, Transport,
    UserId,
};

/// A random name with `prefix`, for isolating test data in a shared backend.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", crate::token::random_id())
}

/// A random user id.
pub fn user() -> UserId {
    UserId::new(unique("user")).expect("valid user id")
}

/// A random client name.
pub fn client() -> ClientName {
    ClientName::new(unique("client")).expect("valid client name")
}

/// A random digest.
pub fn digest() -> TokenDigest {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("OS random");
    TokenDigest::from_bytes(bytes)
}

/// A base instant for tests: the real time, so stores with native expiry keep records.
pub fn now() -> Timestamp {
    use crate::Clock;
    crate::SystemClock.now()
}

/// A live session of `user` through `client`, created at `created`, expiring in an hour.
pub fn session(user: &UserId, client: &ClientName, created: Timestamp) -> Session {
    Session {
        id: SessionId::generate(),
        user_id: user.clone(),
        client: client.clone(),
        digest: digest(),
        created_at: created,
        expires_at: Some(created.saturating_add(Duration::from_secs(3600))),
        renewed_at: None,
        last_used_at: None,
        scopes: Vec::new(),
        context: serde_json::Map::new(),
        transport: Transport::Header,
        revoked_at: None,
        refresh: None,
        name: None,
    }
}

/// An insert policy keeping `max` live sessions per (user, client), deleting the rest.
pub fn keep(max: u32, now: Timestamp) -> InsertPolicy {
    InsertPolicy {
        max_live: std::num::NonZeroU32::new(max).expect("a cap of at least 1"),
        when_full: crate::WhenFull::EvictOldest,
        single_login: false,
        removal: Removal::Delete,
        now,
    }
}

/// Sorted ids of `sessions`.
pub fn ids(sessions: &[Session]) -> Vec<SessionId> {
    let mut ids: Vec<SessionId> = sessions.iter().map(|s| s.id.clone()).collect();
    ids.sort();
    ids
}

// The case lists (`__durin_cases_<suite>!`), generated by build.rs from this directory:
// every top-level `pub async fn` of a suite file is a case, so a case added there runs in
// every store's tests with no list to keep in sync.
include!(concat!(env!("OUT_DIR"), "/conformance_cases.rs"));

/// Stamps one test per conformance case of a trait; used by the public macros.
#[doc(hidden)]
#[macro_export]
macro_rules! __durin_conformance {
    ($module:ident, $trait:ident, $factory:path, [$($case:ident),* $(,)?]) => {
        #[allow(unreachable_pub, missing_docs)]
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let store: ::std::sync::Arc<dyn $crate::$trait> = $factory().await;
                    $crate::testing::$module::$case(store).await;
                }
            )*
        }
    };
}

/// Stamps one test per case that takes the factory's store as it is (suites over more
/// than one trait).
#[doc(hidden)]
#[macro_export]
macro_rules! __durin_concrete {
    ($module:ident, $factory:path, [$($case:ident),* $(,)?]) => {
        #[allow(unreachable_pub, missing_docs)]
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    $crate::testing::$module::$case($factory().await).await;
                }
            )*
        }
    };
}

/// Stamps one test per case of a suite over one part of a backend.
#[doc(hidden)]
#[macro_export]
macro_rules! __durin_backend_part {
    ($module:ident, $part:ident, $factory:path, [$($case:ident),* $(,)?]) => {
        #[allow(unreachable_pub, missing_docs)]
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let backend: ::std::sync::Arc<dyn $crate::Backend> = $factory().await;
                    match $crate::testing::parts::$part(backend.clone()) {
                        Some(part) => $crate::testing::$module::$case(part).await,
                        // Without the ability, the node must do without it as documented.
                        None => $crate::testing::parts::absent(backend, stringify!($part)).await,
                    }
                }
            )*
        }
    };
}

/// Runs every conformance suite a [`crate::Backend`] calls for against the backend
/// returned by `$factory` (an `async fn() -> Arc<B>`, `B: Backend`): the token store
/// and client store suites, and the settings, throttle, attempt-limiter,
/// invalidation-channel and [`backend`] (leases, import) suites for the abilities it
/// has. A backend whose token, client, settings and admin stores are one object runs
/// [`crate::service_tests`] and [`crate::session_admin_tests`] on it too.
///
/// ```text
/// async fn backend() -> std::sync::Arc<MyBackend> { ... }
/// durin_core::backend_tests!(backend);
/// ```
#[macro_export]
macro_rules! backend_tests {
    ($factory:path) => {
        #[allow(unreachable_pub, missing_docs)]
        mod durin_backend_conformance {
            #[allow(unused_imports)]
            use super::*;
            $crate::__durin_cases_token_store!(__durin_backend_part!(
                token_store,
                tokens,
                $factory,
            ));
            $crate::__durin_cases_client_store!(__durin_backend_part!(
                client_store,
                clients,
                $factory,
            ));
            $crate::__durin_cases_settings_store!(__durin_backend_part!(
                settings_store,
                settings,
                $factory,
            ));
            $crate::__durin_cases_throttle!(__durin_backend_part!(throttle, throttle, $factory,));
            $crate::__durin_cases_attempt_limiter!(__durin_backend_part!(
                attempt_limiter,
                attempts,
                $factory,
            ));
            $crate::__durin_cases_invalidation_channel!(__durin_backend_part!(
                invalidation_channel,
                channel,
                $factory,
            ));
            $crate::__durin_cases_backend!(__durin_backend_part!(backend, backend, $factory,));
        }
    };
}

/// Runs the [`token_store`] suite against the store returned by `$factory`.
#[macro_export]
macro_rules! token_store_tests {
    ($factory:path) => {
        $crate::__durin_cases_token_store!(
            __durin_conformance!(token_store, TokenStore, $factory,)
        );
    };
}

/// Runs the [`client_store`] suite against the store returned by `$factory`.
#[macro_export]
macro_rules! client_store_tests {
    ($factory:path) => {
        $crate::__durin_cases_client_store!(__durin_conformance!(
            client_store,
            ClientStore,
            $factory,
        ));
    };
}

/// Runs the [`session_admin`] suite against the store returned by `$factory` (which
/// must implement both `SessionAdmin` and `TokenStore`).
#[macro_export]
macro_rules! session_admin_tests {
    ($factory:path) => {
        $crate::__durin_cases_session_admin!(__durin_concrete!(session_admin, $factory,));
    };
}

/// Runs the [`settings_store`] suite against the store returned by `$factory`.
#[macro_export]
macro_rules! settings_store_tests {
    ($factory:path) => {
        $crate::__durin_cases_settings_store!(__durin_conformance!(
            settings_store,
            SettingsStore,
            $factory,
        ));
    };
}

/// Runs the [`throttle`] suite against the throttle returned by `$factory`.
#[macro_export]
macro_rules! throttle_tests {
    ($factory:path) => {
        $crate::__durin_cases_throttle!(__durin_conformance!(throttle, Throttle, $factory,));
    };
}

/// Runs the [`attempt_limiter`] suite against the limiter returned by `$factory`.
#[macro_export]
macro_rules! attempt_limiter_tests {
    ($factory:path) => {
        $crate::__durin_cases_attempt_limiter!(__durin_conformance!(
            attempt_limiter,
            AttemptLimiter,
            $factory,
        ));
    };
}

/// Runs the [`invalidation_channel`] suite against the channel returned by `$factory`:
/// an `async fn() -> Arc<C>` giving a channel on a fresh, isolated backend (each call may
/// be a new handle to the same one: nodes are made by calling it twice).
#[macro_export]
macro_rules! invalidation_channel_tests {
    ($factory:path) => {
        $crate::__durin_cases_invalidation_channel!(__durin_conformance!(
            invalidation_channel,
            InvalidationChannel,
            $factory,
        ));
    };
}

/// Runs the [`service`] suite: the `Durin` service end to end over the store returned by
/// `$factory` (which must implement both `TokenStore` and `ClientStore`).
#[macro_export]
macro_rules! service_tests {
    ($factory:path) => {
        $crate::__durin_cases_service!(__durin_concrete!(service, $factory,));
    };
}
