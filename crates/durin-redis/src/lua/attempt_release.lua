-- attempt_release: forgets one attempt (it succeeded) under every key of it.
-- KEYS: the attempt keys ({p}:la:<hash hex>). ARGV: 1 attempt id (hex).
-- Returns how many keys held it.
local removed = 0
for _, key in ipairs(KEYS) do
  removed = removed + redis.call('ZREM', key, ARGV[1])
end
return removed
