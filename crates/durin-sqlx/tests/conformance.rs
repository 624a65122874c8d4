//! The durin-core conformance suites against real PostgreSQL (`DATABASE_URL`) and SQLite
//! (a file and `sqlite::memory:`).

mod common;

mod postgres {
    use std::sync::Arc;

    use super::common::postgres;
    use durin_sqlx::PgChannel;

    async fn channel() -> Arc<PgChannel> {
        Arc::new(postgres().await.channel())
    }
    durin_core::invalidation_channel_tests!(channel);
    durin_core::throttle_tests!(postgres);
    durin_core::attempt_limiter_tests!(postgres);
    durin_core::token_store_tests!(postgres);
    durin_core::client_store_tests!(postgres);
    durin_core::session_admin_tests!(postgres);
    durin_core::settings_store_tests!(postgres);
    durin_core::service_tests!(postgres);
}

mod sqlite_file {
    use std::sync::Arc;

    use super::common::sqlite_file;
    use durin_sqlx::SqliteChannel;

    async fn channel() -> Arc<SqliteChannel> {
        Arc::new(sqlite_file().await.channel())
    }
    durin_core::invalidation_channel_tests!(channel);
    durin_core::throttle_tests!(sqlite_file);
    durin_core::attempt_limiter_tests!(sqlite_file);
    durin_core::token_store_tests!(sqlite_file);
    durin_core::client_store_tests!(sqlite_file);
    durin_core::session_admin_tests!(sqlite_file);
    durin_core::settings_store_tests!(sqlite_file);
    durin_core::service_tests!(sqlite_file);
}

mod sqlite_memory {
    use std::sync::Arc;

    use super::common::sqlite_memory;
    use durin_sqlx::SqliteChannel;

    // One process, one connection: the channel links the nodes of this process only.
    async fn channel() -> Arc<SqliteChannel> {
        Arc::new(sqlite_memory().await.channel())
    }
    durin_core::invalidation_channel_tests!(channel);
    durin_core::throttle_tests!(sqlite_memory);
    durin_core::attempt_limiter_tests!(sqlite_memory);
    durin_core::token_store_tests!(sqlite_memory);
    durin_core::client_store_tests!(sqlite_memory);
    durin_core::session_admin_tests!(sqlite_memory);
    durin_core::settings_store_tests!(sqlite_memory);
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
