-- insert: add a session and, in the same step, remove the oldest live sessions of its
-- (user, client) beyond the cap, or every other live session of the user (single login).
-- KEYS: 1 record (s:<digest>), 2 id key, 3 user index, 4 all ids, 5 client index,
--       6 purge index, [7 refresh key]
-- ARGV: 3 header JSON, 4 body (leading newline), 5 max per client, 6 single login (1|0),
--       7 removal (delete|revoke), 8 revocation time, 9 now, 10 when full (evict|refuse)
-- Returns {'ok', removed records as they were...}, or {'full'} / {'name'} when refused
-- (nothing written).
--
-- The policy is durin_core::plan_insert's, in Lua because the check and the writes must
-- be one atomic step; the token-store conformance suite holds both to the same cases.
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[2]) == 1
    or (KEYS[7] and redis.call('EXISTS', KEYS[7]) == 1) then
  return redis.error_reply('DURINCONFLICT session id or digest exists')
end
local new = cjson.decode(ARGV[3])
local max = tonumber(ARGV[5])
if max < 1 then max = 1 end
local single = ARGV[6] == '1'
local now = tonumber(ARGV[9])
local refuse = ARGV[10] == 'refuse'
local name = new.n
if name == NULL then name = nil end

-- The user's live sessions that count, oldest first (the index orders by created_at,
-- then id). Members whose keys Redis expired are pruned on the way.
local live = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do
  local h, body, raw = load(id)
  if h == nil then
    redis.call('ZREM', KEYS[3], id)
    redis.call('ZREM', KEYS[4], id)
  elseif is_live(h, now) then
    if name ~= nil and h.n == name then
      return {'name'}
    end
    if single or h.c == new.c then
      live[#live + 1] = {h, body, raw}
    end
  end
end

local excess = #live
if not single then excess = #live - (max - 1) end
if excess > 0 and refuse and not single then
  return {'full'}
end
local removed = {'ok'}
for i = 1, excess do
  local s = live[i]
  local r = remove(s[1], s[2], s[3], ARGV[7], ARGV[8])
  if r then removed[#removed + 1] = r end
end

save(new, ARGV[4])
redis.call('ZADD', KEYS[3], new.t, new.id)
redis.call('ZADD', KEYS[4], 0, new.id)
redis.call('ZADD', KEYS[5], 0, new.id)
return removed
