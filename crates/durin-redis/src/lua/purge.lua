-- purge: delete up to a batch of sessions that are purgeable before a cut-off (expired,
-- with any refresh token, or revoked), found through the purge index; entries of
-- sessions whose keys Redis already expired are dropped and counted too.
-- KEYS: 1 purge index, 2 all ids. ARGV: 3 cut-off (ms), 4 batch.
-- Returns how many sessions it removed.
local before = tonumber(ARGV[3])
local members = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3],
  'LIMIT', 0, tonumber(ARGV[4]))
local n = 0
for _, m in ipairs(members) do
  local id, c, u = string.match(m, '^([^:]*):([^:]*):(.*)$')
  local h = nil
  if id then h = load(id) end
  if h then
    local p = purge_point(h)
    if p and p < before then
      destroy(h)
      n = n + 1
    elseif p then
      -- The index was out of step with the record: put it right, count nothing.
      redis.call('ZADD', KEYS[1], string.format('%.0f', p), m)
    else
      redis.call('ZREM', KEYS[1], m)
    end
  else
    if id then forget(id, c, u) end
    redis.call('ZREM', KEYS[1], m)
    n = n + 1
  end
end
return n
