-- list_index: one page of sessions from an id index (all ids, or one client's), in id
-- order after a cursor; members whose keys expired are skipped, so a page is only short
-- at the end of the index.
-- KEYS: 1 index. ARGV: 3 cursor ('' = from the start), 4 limit.
local start = '-'
if ARGV[3] ~= '' then start = '(' .. ARGV[3] end
local limit = tonumber(ARGV[4])
local out = {}
while #out < limit do
  local ids = redis.call('ZRANGEBYLEX', KEYS[1], start, '+', 'LIMIT', 0, limit - #out)
  if #ids == 0 then break end
  for _, id in ipairs(ids) do
    local raw = raw_by_id(id)
    if raw then out[#out + 1] = raw end
  end
  start = '(' .. ids[#ids]
end
return out
