-- rekey: replace the session's digest with a new one if it still is the old one.
-- KEYS: 1 id key, 2 old record key, 3 new record key, 4 purge index.
-- ARGV: 3 id, 4 old, 5 new digest.
if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
local h, body = load(ARGV[3])
if h == nil or h.d ~= ARGV[4] then return 0 end
redis.call('DEL', KEYS[2])
h.d = ARGV[5]
save(h, body)
return 1
