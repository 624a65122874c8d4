//! The durin-core conformance suites against a real Redis (`REDIS_URL`, default
//! `redis://127.0.0.1:6379`) and against a Redis Cluster (`REDIS_CLUSTER_URL`, default
//! the 3 masters and 3 replicas `scripts/services.sh` starts on ports 7001-7006, every
//! write waiting for one replica). Every case gets a store under its own random key
//! prefix; an unreachable Redis or cluster fails the cases, it never skips them.

mod common;

use common::{store, throttle};

mod redis_store {
    use super::store;

    durin_core::token_store_tests!(store);
    durin_core::client_store_tests!(store);
    durin_core::session_admin_tests!(store);
    durin_core::settings_store_tests!(store);
    durin_core::service_tests!(store);
}

mod redis_attempt_limiter {
    use super::store;

    durin_core::attempt_limiter_tests!(store);
}

mod redis_channel {
    use std::sync::Arc;

    use durin_redis::RedisChannel;

    /// The channel of a store under its own prefix: each case its own stream.
    async fn channel() -> Arc<RedisChannel> {
        Arc::new(super::store().await.channel())
    }

    durin_core::invalidation_channel_tests!(channel);
}

mod redis_throttle {
    use super::throttle;

    durin_core::throttle_tests!(throttle);
}

mod cluster_store {
    use crate::common::cluster_store as store;

    durin_core::token_store_tests!(store);
    durin_core::client_store_tests!(store);
    durin_core::session_admin_tests!(store);
    durin_core::settings_store_tests!(store);
    durin_core::service_tests!(store);
}

mod cluster_attempt_limiter {
    use crate::common::cluster_store as store;

    durin_core::attempt_limiter_tests!(store);
}

mod cluster_channel {
    use std::sync::Arc;

    use durin_redis::RedisChannel;

    /// The channel of a cluster store under its own prefix: each case its own stream.
    async fn channel() -> Arc<RedisChannel> {
        Arc::new(crate::common::cluster_store().await.channel())
    }

    durin_core::invalidation_channel_tests!(channel);
}

mod cluster_throttle {
    use crate::common::cluster_throttle as throttle;

    durin_core::throttle_tests!(throttle);
}
