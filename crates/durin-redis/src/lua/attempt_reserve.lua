-- attempt_reserve: one reservation of the failed-login limit, atomically over every key
-- of the attempt. Each key is a sorted set of attempt ids scored by their time (ms).
-- KEYS: the attempt keys ({p}:la:<hash hex>).
-- ARGV: 1 now (ms), 2 window (ms), 3 attempt id (hex), 4.. the limit of each key.
-- Forgets the attempts at or before now - window; if every key holds fewer attempts than
-- its limit, records the attempt under every key and returns {1, 0}; else records nothing
-- and returns {0, time of the oldest attempt of the first full key} (now if it has none).
-- Each key expires when its newest attempt leaves the window (by the caller's clock, as
-- the scores are), so Redis bounds the memory and no purge is needed.
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local id = ARGV[3]
-- Integers as text without exponent (%.14g, Lua's default, would round past 14 digits).
local function int(x) return string.format('%.0f', x) end
local cutoff = int(now - window)
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', cutoff)
  if redis.call('ZCARD', key) >= tonumber(ARGV[3 + i]) then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    if oldest[2] then
      return {0, tonumber(oldest[2])}
    end
    return {0, now}
  end
end
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, ARGV[1], id)
  local newest = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  -- In the past (an attempt dated before the window), Redis deletes the key at once.
  redis.call('PEXPIREAT', key, int(tonumber(newest[2]) + window))
end
return {1, 0}
