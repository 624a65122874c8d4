//! Service behaviours that need a private store (purge is global).

use std::sync::Arc;

use durin_core::MemoryStore;

#[tokio::test]
async fn purge_expired_honours_the_grace_period() {
    durin_core::testing::service::purge_expired_honours_the_grace_period(Arc::new(
        MemoryStore::new(),
    ))
    .await;
}
