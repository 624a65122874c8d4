-- lease_acquire: takes or renews a lease (TokenStore::acquire_lease) in one step.
-- KEYS: 1 the lease ({p}:lease:<name>), a hash {holder, until}.
-- ARGV: 1 holder, 2 now (ms), 3 until (ms), 4 the key's time to live (ms; a bound that
-- lets Redis drop a lease nobody renews, never shorter than the lease itself).
-- Returns 1 when ARGV[1] holds the lease now, 0 when another holder's lease runs.
local held = redis.call('HMGET', KEYS[1], 'holder', 'until')
if held[1] and held[1] ~= ARGV[1] and tonumber(held[2]) > tonumber(ARGV[2]) then
  return 0
end
redis.call('HSET', KEYS[1], 'holder', ARGV[1], 'until', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
