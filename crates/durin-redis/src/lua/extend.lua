-- extend: move the expiry of a session that is present and not revoked.
-- KEYS: 1 id key, 2 purge index. ARGV: 3 id, 4 expiry ('' = never), 5 renewal time.
-- Returns the updated record, or nil (gone or revoked: never resurrected).
local h, body = load(ARGV[3])
if h == nil or present(h.rv) then return nil end
if ARGV[4] == '' then h.e = NULL else h.e = ARGV[4] end
h.rn = ARGV[5]
local raw = save(h, body)
return raw
