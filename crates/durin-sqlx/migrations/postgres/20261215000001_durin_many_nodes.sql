-- durin, many nodes: throttles and failed-login limits shared by every node through the
-- database. (PostgreSQL carries cache invalidations with LISTEN/NOTIFY: no table.)

-- GCRA state of one throttle key at one rate: `key` is a 16-byte hash of (rate, key), so
-- rows have a fixed size whatever the caller's key. `tat` is the theoretical arrival
-- time in microseconds since the epoch (a row whose tat is past means the same as no
-- row, so housekeeping deletes those). `admitted` is the decision of the last check,
-- written by the same upsert that decides it so that `RETURNING` can read it back.
CREATE TABLE durin_throttle (
    key       BYTEA   PRIMARY KEY,
    tat       BIGINT  NOT NULL,
    admitted  INTEGER NOT NULL,
    CONSTRAINT durin_throttle_key_len CHECK (octet_length(key) = 16)
);

-- One reserved attempt (a failed login, or one being checked) under one key: `key` is
-- the 16-byte hash of the scope (durin_core::AttemptKey), `id` the attempt's random id,
-- `at` milliseconds since the epoch.
CREATE TABLE durin_login_attempts (
    key  BYTEA  NOT NULL,
    id   BYTEA  NOT NULL,
    at   BIGINT NOT NULL,
    PRIMARY KEY (key, id),
    CONSTRAINT durin_login_attempts_key_len CHECK (octet_length(key) = 16),
    CONSTRAINT durin_login_attempts_id_len CHECK (octet_length(id) = 16)
);
CREATE INDEX durin_login_attempts_at ON durin_login_attempts (at);
