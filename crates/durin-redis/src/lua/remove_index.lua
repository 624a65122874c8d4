-- remove_index: delete the sessions of the first chunk of a client's index.
-- KEYS: 1 client index, 2 all ids, 3 purge index. ARGV: 3 chunk size.
-- Returns {sessions deleted, members processed}.
local ids = redis.call('ZRANGEBYLEX', KEYS[1], '-', '+', 'LIMIT', 0, tonumber(ARGV[3]))
local n = 0
for _, id in ipairs(ids) do
  local h = load(id)
  if h then
    destroy(h)
    n = n + 1
  else
    redis.call('ZREM', KEYS[1], id)
    redis.call('ZREM', KEYS[2], id)
  end
end
return {n, #ids}
