-- remove_user (logout-all): remove every session of a user except one, all clients, in
-- one step: a racing login lands wholly before (and is removed) or after (and survives).
-- KEYS: 1 user index, 2 all ids, 3 purge index.
-- ARGV: 3 id to keep ('' = none), 4 removal, 5 revocation time.
-- Returns the raw records of the removed sessions, as they were.
local removed = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if id ~= ARGV[3] then
    local h, body, raw = load(id)
    if h == nil then
      redis.call('ZREM', KEYS[1], id)
      redis.call('ZREM', KEYS[2], id)
    else
      local r = remove(h, body, raw, ARGV[4], ARGV[5])
      if r then removed[#removed + 1] = r end
    end
  end
end
return removed
