//! The durin-core conformance suites against a real Redis (`REDIS_URL`, default
//! `redis://127.0.0.1:6379`). Every case gets a store under its own random key prefix;
//! an unreachable Redis fails the cases, it never skips them.

mod common;

use common::store;

mod redis_store {
    use super::store;

    // Tokens, clients, settings, the throttle (RedisThrottle), the attempt limiter,
    // the invalidation stream, leases: every suite the backend calls for.
    durin_core::backend_tests!(store);
    durin_core::session_admin_tests!(store);
    durin_core::service_tests!(store);
}
