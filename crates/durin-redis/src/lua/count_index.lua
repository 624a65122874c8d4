-- count_index: how many members of one chunk of an id index still have a session.
-- KEYS: 1 index. ARGV: 3 cursor ('' = from the start), 4 chunk size.
-- Returns {count, last member ('' at the end)}.
local start = '-'
if ARGV[3] ~= '' then start = '(' .. ARGV[3] end
local ids = redis.call('ZRANGEBYLEX', KEYS[1], start, '+', 'LIMIT', 0, tonumber(ARGV[4]))
local n = 0
for _, id in ipairs(ids) do
  if redis.call('EXISTS', k_id(id)) == 1 then n = n + 1 end
end
return {n, ids[#ids] or ''}
