-- durin, many nodes: the invalidation log that carries cache invalidations between the
-- processes sharing this file, and throttles and failed-login limits shared through it.

-- Invalidation payloads in publication order. AUTOINCREMENT: a seq is never reused, even
-- after the newest rows are pruned, so a subscriber's "last seq seen" stays meaningful.
-- Publishers prune rows older than the retention as they go.
CREATE TABLE durin_invalidations (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    at       INTEGER NOT NULL,
    payload  TEXT    NOT NULL
);
CREATE INDEX durin_invalidations_at ON durin_invalidations (at);

-- The highest seq ever pruned (one row). A subscriber whose last seen seq is below it
-- may have missed pruned rows: it reports the subscription lost.
CREATE TABLE durin_invalidations_pruned (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    through  INTEGER NOT NULL
);
INSERT INTO durin_invalidations_pruned (id, through) VALUES (1, 0);

-- GCRA state of one throttle key at one rate: `key` is a 16-byte hash of (rate, key).
-- `tat` is the theoretical arrival time in microseconds since the epoch (past means the
-- same as no row); `admitted` is the decision of the last check, read back by RETURNING.
CREATE TABLE durin_throttle (
    key       BLOB    PRIMARY KEY CHECK (length(key) = 16),
    tat       INTEGER NOT NULL,
    admitted  INTEGER NOT NULL
);

-- One reserved attempt under one key (durin_core::AttemptKey's 16-byte hash), with the
-- attempt's random id and its time in milliseconds since the epoch.
CREATE TABLE durin_login_attempts (
    key  BLOB    NOT NULL CHECK (length(key) = 16),
    id   BLOB    NOT NULL CHECK (length(id) = 16),
    at   INTEGER NOT NULL,
    PRIMARY KEY (key, id)
);
CREATE INDEX durin_login_attempts_at ON durin_login_attempts (at);
