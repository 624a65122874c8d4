-- durin, second wave: named personal tokens and per-(user, client) settings.

-- The name of a named personal token (NULL for login sessions and API keys). Names are
-- unique among a user's live named tokens; the insert enforces it under the per-user
-- lock (a unique index cannot, since an expired token frees its name).
ALTER TABLE durin_sessions ADD COLUMN name VARCHAR(64);
CREATE INDEX durin_sessions_user_name ON durin_sessions (user_id, name) WHERE name IS NOT NULL;

-- A JSON object per (user, client): theme, display name... It survives logout.
CREATE TABLE durin_settings (
    user_id     VARCHAR(255) NOT NULL,
    client      VARCHAR(64)  NOT NULL,
    settings    TEXT         NOT NULL,
    updated_at  BIGINT       NOT NULL,
    PRIMARY KEY (user_id, client)
);
