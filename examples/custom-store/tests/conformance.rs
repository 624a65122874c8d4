//! `VecStore` proves itself with durin-core's conformance suites.

use std::sync::Arc;

use custom_store::VecStore;

async fn store() -> Arc<VecStore> {
    Arc::new(VecStore::new())
}

durin_core::backend_tests!(store);
durin_core::service_tests!(store);
