-- KEYS[1] the settings record, KEYS[2] the partition's settings index;
-- ARGV[1] the record, ARGV[2] the index member (<user> NUL <client>).
redis.call('SET', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], 0, ARGV[2])
return 1
