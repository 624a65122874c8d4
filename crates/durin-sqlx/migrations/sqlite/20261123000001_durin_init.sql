-- durin: clients and sessions. Times are milliseconds since the Unix epoch (INTEGER),
-- as in the PostgreSQL schema, so both backends share one code path and round-trip exactly.

CREATE TABLE durin_clients (
    name        VARCHAR(64) PRIMARY KEY,
    -- The client's policy as JSON (durin_core::Client), tagged with its format version.
    format      INTEGER     NOT NULL,
    policy      TEXT        NOT NULL,
    created_at  INTEGER      NOT NULL,
    updated_at  INTEGER      NOT NULL
);

CREATE TABLE durin_sessions (
    id                  VARCHAR(64)  PRIMARY KEY,
    -- HMAC-SHA-256 of the token under the server key: 32 bytes, never the token.
    digest              BLOB         NOT NULL,
    user_id             VARCHAR(255) NOT NULL,
    client              VARCHAR(64)  NOT NULL,
    created_at          INTEGER       NOT NULL,
    expires_at          INTEGER,
    renewed_at          INTEGER,
    last_used_at        INTEGER,
    scopes              TEXT         NOT NULL,
    context             TEXT         NOT NULL,
    transport           VARCHAR(16)  NOT NULL,
    revoked_at          INTEGER,
    refresh_digest      BLOB,
    refresh_expires_at  INTEGER,
    CONSTRAINT durin_sessions_digest_len CHECK (length(digest) = 32)
);

CREATE UNIQUE INDEX durin_sessions_digest ON durin_sessions (digest);
CREATE UNIQUE INDEX durin_sessions_refresh_digest ON durin_sessions (refresh_digest)
    WHERE refresh_digest IS NOT NULL;
CREATE INDEX durin_sessions_user ON durin_sessions (user_id, created_at);
CREATE INDEX durin_sessions_user_client ON durin_sessions (user_id, client, created_at);
CREATE INDEX durin_sessions_client ON durin_sessions (client);
CREATE INDEX durin_sessions_expires ON durin_sessions (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX durin_sessions_revoked ON durin_sessions (revoked_at) WHERE revoked_at IS NOT NULL;

-- Refresh tokens already rotated away: presenting one again revokes its session.
CREATE TABLE durin_rotated_refresh (
    digest      BLOB        PRIMARY KEY,
    session_id  VARCHAR(64) NOT NULL REFERENCES durin_sessions (id) ON DELETE CASCADE
);
CREATE INDEX durin_rotated_refresh_session ON durin_rotated_refresh (session_id);
