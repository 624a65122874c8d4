//! The durin-core conformance suites against a real Redis (`REDIS_URL`, default
//! `redis://127.0.0.1:6379`) and against a Redis Cluster (`REDIS_CLUSTER_URL`, default
//! the 3 masters and 3 replicas `scripts/services.sh` starts on ports 7001-7006, every
//! write waiting for one replica). Every case gets a store under its own random key
//! prefix; an unreachable Redis or cluster fails the cases, it never skips them.

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

mod cluster_store {
    use crate::common::cluster_store as store;

    durin_core::backend_tests!(store);
    durin_core::session_admin_tests!(store);
    durin_core::service_tests!(store);
}
