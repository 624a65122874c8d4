//! The conformance suites against the in-memory store, the cache in front of it, and the
//! in-memory throttle.

use std::sync::Arc;

use durin_core::testing::MemoryChannel;
use durin_core::{CachedTokenStore, MemoryAttemptLimiter, MemoryStore, MemoryThrottle};

async fn memory() -> Arc<MemoryStore> {
    Arc::new(MemoryStore::new())
}

async fn cached() -> Arc<CachedTokenStore<MemoryStore>> {
    Arc::new(CachedTokenStore::new(MemoryStore::new()))
}

async fn throttle() -> Arc<MemoryThrottle> {
    Arc::new(MemoryThrottle::new())
}

async fn attempts() -> Arc<MemoryAttemptLimiter> {
    Arc::new(MemoryAttemptLimiter::new())
}

async fn channel() -> Arc<MemoryChannel> {
    Arc::new(MemoryChannel::new())
}

mod memory {
    use super::memory;
    durin_core::backend_tests!(memory);
    durin_core::session_admin_tests!(memory);
    durin_core::service_tests!(memory);
}

mod cached {
    use super::cached;
    durin_core::token_store_tests!(cached);
    durin_core::session_admin_tests!(cached);
}

mod memory_throttle {
    use super::throttle;
    durin_core::throttle_tests!(throttle);
}

mod memory_attempts {
    use super::attempts;
    durin_core::attempt_limiter_tests!(attempts);
}

mod memory_channel {
    use super::channel;
    durin_core::invalidation_channel_tests!(channel);
}
