-- get_by_id: the raw record of a session by public id.
-- KEYS: 1 id key. ARGV: 3 id.
return raw_by_id(ARGV[3])
