-- rotate: swap both tokens of a session whose current refresh digest is the presented
-- one, and remember the presented digest as rotated (reuse detection).
-- KEYS: 1 id key, 2 presented refresh key, 3 its rotated key, 4 new record key,
--       5 new refresh key, 6 the session's set of rotated digests, 7 purge index
-- ARGV: 3 id, 4 presented digest, 5 new digest, 6 new refresh digest, 7 refresh expiry,
--       8 expiry ('' = never), 9 rotation time
-- Returns the updated record, or nil (gone, revoked, or a racing rotation won).
local h, body = load(ARGV[3])
if h == nil or present(h.rv) or h.rd ~= ARGV[4] then return nil end
if (ARGV[5] ~= h.d and redis.call('EXISTS', KEYS[4]) == 1)
    or redis.call('EXISTS', KEYS[5]) == 1 then
  return redis.error_reply('DURINCONFLICT digest exists')
end

-- The presented token is remembered until it would have expired, plus the grace period;
-- the set of them (scored by that expiry) lives as long as its last member.
local expired_at = num(h.re) or tonumber(ARGV[9])
redis.call('ZADD', KEYS[6], string.format('%.0f', expired_at), ARGV[4])
local forgotten = string.format('%.0f', tonumber(ARGV[9]) - GRACE)
redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', '(' .. forgotten)
local last = redis.call('ZRANGE', KEYS[6], -1, -1, 'WITHSCORES')
local remember = function(key, until_ms)
  if until_ms + GRACE < MAX_PXAT then
    redis.call('PEXPIREAT', key, string.format('%.0f', math.max(1, until_ms + GRACE)))
  else
    redis.call('PERSIST', key)
  end
end
redis.call('SET', KEYS[3], h.id)
remember(KEYS[3], expired_at)
if last[2] then remember(KEYS[6], tonumber(last[2])) end

redis.call('DEL', k_session(h.d), KEYS[2])
h.d = ARGV[5]
h.rd = ARGV[6]
h.re = ARGV[7]
if ARGV[8] == '' then h.e = NULL else h.e = ARGV[8] end
h.rn = ARGV[9]
local raw = save(h, body)
return raw
