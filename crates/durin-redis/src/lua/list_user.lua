-- list_user: the raw records of a user's sessions, oldest first.
-- KEYS: 1 user index.
local out = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local raw = raw_by_id(id)
  if raw then out[#out + 1] = raw end
end
return out
