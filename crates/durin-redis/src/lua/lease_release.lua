-- lease_release: gives a lease back if the caller holds it (TokenStore::release_lease).
-- KEYS: 1 the lease ({p}:lease:<name>). ARGV: 1 holder.
-- Returns 1 when it was released, 0 when another holder (or nobody) held it.
if redis.call('HGET', KEYS[1], 'holder') == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
