-- The application's own users, beside durin's tables (durin_clients, durin_sessions...)
-- in the same database. This migrator records itself in sqlx's default _sqlx_migrations;
-- durin keeps its own in _durin_migrations, so neither sees the other's versions.
-- Portable SQL: the same file runs on SQLite and PostgreSQL.
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    username VARCHAR(32) NOT NULL UNIQUE,
    email VARCHAR(254),
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
