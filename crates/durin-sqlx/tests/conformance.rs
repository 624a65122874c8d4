//! The durin-core conformance suites against real PostgreSQL (`DATABASE_URL`) and SQLite
//! (a file and `sqlite::memory:`).

mod common;

mod postgres {
    use super::common::postgres;

    durin_core::backend_tests!(postgres);
    durin_core::session_admin_tests!(postgres);
    durin_core::service_tests!(postgres);
}

mod sqlite_file {
    use super::common::sqlite_file;

    durin_core::backend_tests!(sqlite_file);
    durin_core::session_admin_tests!(sqlite_file);
    durin_core::service_tests!(sqlite_file);
}

mod sqlite_memory {
    use super::common::sqlite_memory;

    durin_core::backend_tests!(sqlite_memory);
    durin_core::session_admin_tests!(sqlite_memory);
    durin_core::service_tests!(sqlite_memory);
}

mod cached_postgres {
    use std::sync::Arc;

    use durin_core::CachedTokenStore;
    use durin_sqlx::PostgresStore;

    async fn cached() -> Arc<CachedTokenStore<Arc<PostgresStore>>> {
        Arc::new(CachedTokenStore::new(super::common::postgres().await))
    }
    durin_core::token_store_tests!(cached);
}
