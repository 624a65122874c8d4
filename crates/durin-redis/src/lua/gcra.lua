-- gcra: one throttle check (generic cell rate algorithm) on the Redis server's clock, so
-- every process sharing the key agrees. The key holds the theoretical arrival time (TAT)
-- in microseconds and expires when it is in the past (a fresh key means the same).
-- A rate N/period has an emission interval T = period/N and admits a burst of N:
-- a request at `now` is admitted when TAT - T*(N-1) <= now, and then moves TAT by T.
-- KEYS: 1 state key. ARGV: 1 emission interval (µs, may be fractional), 2 burst (N).
-- Returns {1, 0} when admitted, {0, microseconds until the next admission} when not.
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local interval = tonumber(ARGV[1])
local tolerance = interval * (tonumber(ARGV[2]) - 1)
local stored = redis.call('GET', KEYS[1])
local tat = now
if stored then
  tat = tonumber(stored) or now
  if tat < now then tat = now end
end
local allow_at = tat - tolerance
if now < allow_at then
  return {0, math.ceil(allow_at - now)}
end
local next_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.17g', next_tat),
  'PX', math.max(1, math.ceil((next_tat - now) / 1000)))
return {1, 0}
