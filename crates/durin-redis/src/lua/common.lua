-- durin-redis: helpers shared by every session script (prepended to each one).
--
-- A session record is "<header JSON>\n<body JSON>". The header holds what scripts read
-- and change: flat strings and nulls, timestamps as decimal strings of milliseconds (so
-- nothing passes through a Lua double on its way back to Rust). The body holds scopes,
-- context and transport; scripts never decode it, so cjson never re-encodes application
-- data (cjson would turn [] into {} and round numbers to 14 digits).
--
-- ARGV[1] is the key prefix, ARGV[2] the grace period in milliseconds.
local P = ARGV[1]
local GRACE = tonumber(ARGV[2])
local NULL = cjson.null
-- Past this instant (ms since the epoch, year ~128,000) a record keeps no TTL.
local MAX_PXAT = 4e15

local function corrupt(what)
  error({err = 'DURINCORRUPT ' .. what})
end

local function k_session(d) return P .. ':s:' .. d end
local function k_id(id) return P .. ':id:' .. id end
local function k_refresh(d) return P .. ':r:' .. d end
local function k_rotated(d) return P .. ':rr:' .. d end
local function k_rotated_set(id) return P .. ':ro:' .. id end
local function k_user(u) return P .. ':u:{' .. u .. '}:i' end
local function k_client(c) return P .. ':c:' .. c end
local K_ALL = P .. ':all'
local K_EXP = P .. ':exp'

local function present(x) return x ~= nil and x ~= NULL end
local function num(x) if present(x) then return tonumber(x) end return nil end

local function parse(raw)
  local nl = string.find(raw, '\n', 1, true)
  if not nl then corrupt('session record has no header') end
  local ok, h = pcall(cjson.decode, string.sub(raw, 1, nl - 1))
  if not ok or type(h) ~= 'table' then corrupt('session record header is not JSON') end
  if h.v ~= 1 then corrupt('unknown session record version ' .. tostring(h.v)) end
  return h, string.sub(raw, nl)
end

-- The raw record of the session with public id `id`, or nil.
local function raw_by_id(id)
  local d = redis.call('GET', k_id(id))
  if not d then return nil end
  return redis.call('GET', k_session(d)) or nil
end

-- The session with public id `id`: header, body (with its leading newline), raw record.
local function load(id)
  local raw = raw_by_id(id)
  if not raw then return nil end
  local h, body = parse(raw)
  return h, body, raw
end

local function is_live(h, now)
  if present(h.rv) then return false end
  local e = num(h.e)
  return e == nil or e > now
end

-- From when purge_expired may delete the session (Session::is_purgeable); nil = never.
local function purge_point(h)
  local p = nil
  local e = num(h.e)
  if e then
    p = e
    local re = num(h.re)
    if re and re > p then p = re end
  end
  local rv = num(h.rv)
  if rv and (p == nil or rv < p) then p = rv end
  return p
end

-- The server-side expiry (PXAT) of the session's keys: the purge point plus the grace
-- period, so an expired token still answers "expired" until then. nil = no TTL.
local function pxat(h)
  local p = purge_point(h)
  if p == nil or p + GRACE >= MAX_PXAT then return nil end
  if p + GRACE < 1 then return '1' end
  return string.format('%.0f', p + GRACE)
end

local function exp_member(h) return h.id .. ':' .. h.c .. ':' .. h.u end

local function set(key, value, at)
  if at then
    redis.call('SET', key, value, 'PXAT', at)
  else
    redis.call('SET', key, value)
  end
end

-- Writes the record and its id and refresh pointers, all with the same expiry, and
-- keeps the purge index in step. Returns the raw record and its PXAT (or nil).
local function save(h, body)
  local at = pxat(h)
  local raw = cjson.encode(h) .. body
  set(k_session(h.d), raw, at)
  set(k_id(h.id), h.d, at)
  if present(h.rd) then set(k_refresh(h.rd), h.id, at) end
  local p = purge_point(h)
  if p then
    redis.call('ZADD', K_EXP, string.format('%.0f', p), exp_member(h))
  else
    redis.call('ZREM', K_EXP, exp_member(h))
  end
  return raw, at
end

-- Deletes the rotated refresh digests remembered for a session.
local function forget_rotated(id)
  local set = k_rotated_set(id)
  for _, d in ipairs(redis.call('ZRANGE', set, 0, -1)) do
    redis.call('DEL', k_rotated(d))
  end
  redis.call('DEL', set)
end

-- Deletes the session and every key and index entry that points at it.
local function destroy(h)
  redis.call('DEL', k_session(h.d), k_id(h.id))
  if present(h.rd) then redis.call('DEL', k_refresh(h.rd)) end
  forget_rotated(h.id)
  redis.call('ZREM', k_user(h.u), h.id)
  redis.call('ZREM', K_ALL, h.id)
  redis.call('ZREM', k_client(h.c), h.id)
  redis.call('ZREM', K_EXP, exp_member(h))
end

-- Drops the index entries of a session whose keys Redis already expired.
local function forget(id, c, u)
  redis.call('DEL', k_id(id))
  forget_rotated(id)
  redis.call('ZREM', k_user(u), id)
  redis.call('ZREM', K_ALL, id)
  redis.call('ZREM', k_client(c), id)
  redis.call('ZREM', K_EXP, id .. ':' .. c .. ':' .. u)
end

-- Removes one session: mode 'delete', or 'revoke' (audit: keep it with revoked_at = at).
-- Returns the record as it was, or nil when revoking one that is already revoked.
local function remove(h, body, raw, mode, at)
  if mode == 'delete' then
    destroy(h)
    return raw
  end
  if present(h.rv) then return nil end
  h.rv = at
  save(h, body)
  return raw
end

