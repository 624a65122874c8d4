-- durin, leases: nodes sharing this database take turns through a named lease
-- (TokenStore::acquire_lease; the expired-session purge runs on one node at a time).
-- `holder` is the node's random name, `expires_at` milliseconds since the epoch: past
-- means nobody holds it.
CREATE TABLE durin_leases (
    name        TEXT    PRIMARY KEY,
    holder      TEXT    NOT NULL,
    expires_at  BIGINT  NOT NULL
);
