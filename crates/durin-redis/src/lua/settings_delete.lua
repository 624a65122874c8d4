-- KEYS[1] the settings record, KEYS[2] the partition's settings index;
-- ARGV[1] the index member (<user> NUL <client>). Returns how many records it deleted.
local deleted = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return deleted
