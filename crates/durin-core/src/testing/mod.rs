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

pub mod client_store;
pub mod service;
pub mod session_admin;
pub mod throttle;
pub mod token_store;

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
    }
}

/// An insert policy keeping `max` live sessions per (user, client), deleting the rest.
pub fn keep(max: u32, now: Timestamp) -> InsertPolicy {
    InsertPolicy {
        max_per_client: max,
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

/// Runs the [`token_store`] suite against the store returned by `$factory`.
#[macro_export]
macro_rules! token_store_tests {
    ($factory:path) => {
        $crate::__durin_conformance!(
            token_store,
            TokenStore,
            $factory,
            [
                insert_then_get_round_trips_every_field,
                unknown_digest_is_none,
                get_by_id_finds_the_session,
                insert_evicts_the_oldest_beyond_max,
                eviction_counts_only_the_same_user_and_client,
                eviction_ignores_expired_and_revoked_sessions,
                audit_mode_eviction_keeps_a_revoked_record,
                single_login_removes_every_other_session,
                duplicate_digest_is_refused,
                list_by_user_is_oldest_first_and_isolated,
                extend_moves_the_expiry,
                extend_never_resurrects_a_removed_session,
                extend_never_resurrects_a_revoked_session,
                touch_records_last_use,
                rekey_replaces_the_digest,
                rotate_replaces_both_tokens_and_remembers_the_old_refresh,
                rotate_with_a_stale_refresh_digest_does_nothing,
                remove_deletes_once,
                remove_in_audit_mode_marks_revoked,
                remove_user_removes_every_client_and_honours_except,
                remove_user_is_isolated_per_user,
                purge_deletes_only_long_expired_sessions,
                purge_keeps_sessions_with_a_live_refresh_token,
                purge_respects_the_batch_size,
                concurrent_logins_leave_at_most_max_live_sessions,
                concurrent_logins_with_max_three,
                logout_all_racing_logins_leaves_nothing_issued_before,
                renew_racing_revoke_never_resurrects,
            ]
        );
    };
}

/// Runs the [`client_store`] suite against the store returned by `$factory`.
#[macro_export]
macro_rules! client_store_tests {
    ($factory:path) => {
        $crate::__durin_conformance!(
            client_store,
            ClientStore,
            $factory,
            [
                create_then_get_round_trips_every_field,
                unknown_client_is_none,
                duplicate_create_is_a_conflict,
                upsert_creates_then_replaces,
                delete_reports_whether_it_existed,
                list_includes_created_clients_in_name_order,
            ]
        );
    };
}

/// Runs the [`session_admin`] suite against the store returned by `$factory` (which
/// must implement both `SessionAdmin` and `TokenStore`).
#[macro_export]
macro_rules! session_admin_tests {
    ($factory:path) => {
        #[allow(unreachable_pub, missing_docs)]
        mod session_admin {
            #[allow(unused_imports)]
            use super::*;
            $crate::__durin_admin_case!($factory, pages_follow_the_cursor_without_gaps);
            $crate::__durin_admin_case!($factory, filters_by_user_and_client);
            $crate::__durin_admin_case!($factory, counts_and_removes_client_sessions);
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __durin_admin_case {
    ($factory:path, $case:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $case() {
            let store = $factory().await;
            $crate::testing::session_admin::$case(store.clone(), store).await;
        }
    };
}

/// Runs the [`throttle`] suite against the throttle returned by `$factory`.
#[macro_export]
macro_rules! throttle_tests {
    ($factory:path) => {
        $crate::__durin_conformance!(
            throttle,
            Throttle,
            $factory,
            [
                admits_a_burst_of_n_then_refuses,
                keys_are_independent,
                rates_are_independent,
                retry_after_is_within_one_emission_interval,
            ]
        );
    };
}

/// Runs the [`service`] suite: the `Durin` service end to end over the store returned by
/// `$factory` (which must implement both `TokenStore` and `ClientStore`).
#[macro_export]
macro_rules! service_tests {
    ($factory:path) => {
        $crate::__durin_service!(
            $factory,
            [
                login_then_authenticate,
                second_login_replaces_the_first_token,
                expired_token_is_rejected_as_expired,
                remove_policy_deletes_expired_sessions,
                renew_extends_up_to_the_max_lifetime,
                renewal_none_refuses_renew,
                sliding_renewal_is_debounced,
                logout_is_immediate_even_through_the_cache,
                logout_all_counts_and_isolates,
                sessions_list_and_revoke,
                refresh_rotates_and_reuse_revokes_the_family,
                api_keys_follow_the_api_access_client,
                api_keys_need_configuration,
                transports_are_not_interchangeable,
                key_rotation_keeps_sessions,
                hook_can_veto_authentication,
                scopes_are_checked_at_login,
                throttle_uses_the_client_rate,
                last_use_is_tracked_and_debounced,
                concurrent_logins_through_the_service_leave_one,
            ]
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __durin_service {
    ($factory:path, [$($case:ident),* $(,)?]) => {
        #[allow(unreachable_pub, missing_docs)]
        mod service {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    $crate::testing::service::$case($factory().await).await;
                }
            )*
        }
    };
}
