-- remove: delete or revoke one session.
-- KEYS: 1 id key, 2 all ids, 3 purge index.
-- ARGV: 3 id, 4 removal (delete|revoke), 5 revocation time.
-- Returns the record as it was, or nil (already gone, or already revoked).
local h, body, raw = load(ARGV[3])
if h == nil then return nil end
return remove(h, body, raw, ARGV[4], ARGV[5])
