-- get_by_refresh: what a refresh digest points at.
-- KEYS: 1 refresh key, 2 rotated key. ARGV: 3 refresh digest.
-- Returns {1, record} (current), {2, session id} (rotated away from a session that still
-- exists) or {0, ''}.
local id = redis.call('GET', KEYS[1])
if id then
  local h, _, raw = load(id)
  if h and h.rd == ARGV[3] then return {1, raw} end
end
local rotated = redis.call('GET', KEYS[2])
if rotated and redis.call('EXISTS', k_id(rotated)) == 1 then return {2, rotated} end
return {0, ''}
