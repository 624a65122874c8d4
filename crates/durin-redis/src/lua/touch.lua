-- touch: record the last use of a session, if present.
-- KEYS: 1 id key, 2 purge index. ARGV: 3 id, 4 time.
local h, body = load(ARGV[3])
if h == nil then return 0 end
h.lu = ARGV[4]
save(h, body)
return 1
