//! The durin-core conformance suites against a real Redis (`REDIS_URL`, default
//! `redis://127.0.0.1:6379`). Every case gets a store under its own random key prefix;
//! an unreachable Redis fails the cases, it never skips them.

mod common;

use common::{store, throttle};

mod redis_store {
    use super::store;

    durin_core::token_store_tests!(store);
    durin_core::client_store_tests!(store);
    durin_core::session_admin_tests!(store);
    durin_core::service_tests!(store);

    /// Left out of `service_tests!` because purge is global to a backend; here the case
    /// has its key prefix to itself.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn purge_expired_honours_the_grace_period() {
        durin_core::testing::service::purge_expired_honours_the_grace_period(store().await).await;
    }
}

mod redis_throttle {
    use super::throttle;

    durin_core::throttle_tests!(throttle);
}
