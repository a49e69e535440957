package inbox

import (
	"crypto/sha1"
	"encoding/hex"
)

// The scripts take the seven keys of one inbox, in this order (see the package
// documentation):
//
//	KEYS[1] q     sorted set id -> seq: every message, the order of delivery
//	KEYS[2] x     sorted set id -> expiry (Unix ms)
//	KEYS[3] n     sorted set id -> seq: the messages without a collapse key
//	KEYS[4] k     sorted set collapse key -> seq
//	KEYS[5] c     hash collapse key -> id
//	KEYS[6] m     hash id -> record
//	KEYS[7] meta  hash: last (the last seq given), bytes (payloads held), until
//
// A record is "<seq>\n<size>\n<collapse key>\n" followed by the rest that Go
// encodes (encodeRest). Sequences are below 2^53, exact in Lua's doubles, and
// are always written with %.0f: Lua's own tostring would round them.

// luaCommon reads meta (last, bytes, until: the Unix ms the keys' TTL runs
// to) and defines del (remove one message by id, returning whether it was
// there), purge (remove the messages expired at now, returning their ids) and
// settle (after removals: save bytes, or delete the keys of an emptied inbox,
// keeping meta's last sequence for hold ms past the later of now and that
// sequence). Each redis.call costs about a microsecond and a half on the
// project's machine, so meta is read once and written once.
const luaCommon = `
local q, x, n, k, c, m, meta = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local st = redis.call('HMGET', meta, 'last', 'bytes', 'until')
local last, bytes, untl = tonumber(st[1] or '0'), tonumber(st[2] or '0'), tonumber(st[3] or '0')
local changed = false
local function fmt(v) return string.format('%.0f', v) end
local function del(id)
  local rec = redis.call('HGET', m, id)
  if not rec then return false end
  local _, size, ck = string.match(rec, '^([^\n]*)\n([^\n]*)\n([^\n]*)\n')
  redis.call('HDEL', m, id)
  redis.call('ZREM', q, id)
  redis.call('ZREM', x, id)
  if ck == '' then
    redis.call('ZREM', n, id)
  elseif redis.call('HGET', c, ck) == id then
    redis.call('HDEL', c, ck)
    redis.call('ZREM', k, ck)
  end
  bytes = bytes - tonumber(size)
  changed = true
  return true
end
local function purge(now)
  local ids = redis.call('ZRANGEBYSCORE', x, '-inf', now)
  for _, id in ipairs(ids) do del(id) end
  return ids
end
local function settle(now, hold)
  if redis.call('ZCARD', q) > 0 then
    redis.call('HSET', meta, 'bytes', fmt(bytes))
    return
  end
  redis.call('DEL', q, x, n, k, c, m)
  if last == 0 then
    redis.call('DEL', meta)
    return
  end
  redis.call('HDEL', meta, 'until')
  redis.call('HSET', meta, 'bytes', '0')
  redis.call('PEXPIRE', meta, fmt(math.max(last, now) - now + hold))
end
`

// putScript stores one message, applying the collapse key and the limits.
//
// ARGV: now (Unix ms), id, expiry (Unix ms), collapse key, size, rest,
// MaxMessages, MaxCollapseKeys, MaxBytes, hold (ms), slack (ms).
//
// The keys' TTL runs to until, at least hold past the latest expiry. It is
// moved, slack further, only when a message expires past it, and set on every
// key after a removal (which may have deleted a key that the put creates
// again) or on the keys the put creates: most puts set no TTL.
//
// It returns {seq, duplicate (0/1), replaced id or empty, dropped ids,
// expired ids, expiry}; seq 0 when the message itself was already expired.
var putScript = newScript(luaCommon + `
local now, id, exp, ck, size = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
local maxN, maxK, maxBytes = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local hold, slack = tonumber(ARGV[10]), tonumber(ARGV[11])
local expired = purge(now)
local old = redis.call('HGET', m, id)
if old then
  if changed then settle(now, hold) end
  local seq = string.match(old, '^([^\n]*)\n')
  return {seq, 1, '', {}, expired, redis.call('ZSCORE', x, id)}
end
if exp <= now then
  table.insert(expired, id)
  if changed then settle(now, hold) end
  return {'0', 0, '', {}, expired, ARGV[3]}
end
local replaced, dropped, fresh = '', {}, {}
if ck ~= '' then
  local prev = redis.call('HGET', c, ck)
  if prev then
    del(prev)
    replaced = prev
  else
    local nk = redis.call('ZCARD', k)
    if nk >= maxK then
      local oldest = redis.call('ZRANGE', k, 0, 0)[1]
      local oid = redis.call('HGET', c, oldest)
      del(oid)
      table.insert(dropped, oid)
    elseif nk == 0 then
      fresh = {k, c}
    end
  end
else
  local nn = redis.call('ZCARD', n)
  if nn >= maxN then
    local oid = redis.call('ZRANGE', n, 0, 0)[1]
    del(oid)
    table.insert(dropped, oid)
  elseif nn == 0 then
    fresh = {n}
  end
end
while bytes + size > maxBytes do
  local oid = redis.call('ZRANGE', q, 0, 0)[1]
  if not oid then break end
  del(oid)
  table.insert(dropped, oid)
end
local s = fmt(math.max(last + 1, now))
bytes = bytes + size
redis.call('HSET', m, id, s .. '\n' .. ARGV[5] .. '\n' .. ck .. '\n' .. ARGV[6])
redis.call('ZADD', q, s, id)
redis.call('ZADD', x, ARGV[3], id)
if ck == '' then
  redis.call('ZADD', n, s, id)
else
  redis.call('HSET', c, ck, id)
  redis.call('ZADD', k, s, ck)
end
if untl == 0 or exp + hold > untl then
  untl = exp + hold + slack
  fresh = KEYS
elseif changed then
  fresh = KEYS
end
redis.call('HSET', meta, 'last', s, 'bytes', fmt(bytes), 'until', fmt(untl))
for _, key in ipairs(fresh) do redis.call('PEXPIRE', key, fmt(untl - now)) end
return {s, 0, replaced, dropped, expired, ARGV[3]}
`)

// pendingScript removes the expired messages and returns the records after a
// sequence.
//
// ARGV: now (Unix ms), after (exclusive), limit (0 for all), hold (ms).
//
// It returns {expired ids, ids, records in seq order}.
var pendingScript = newScript(luaCommon + `
local now, hold = tonumber(ARGV[1]), tonumber(ARGV[4])
local expired = purge(now)
local ids
if tonumber(ARGV[3]) > 0 then
  ids = redis.call('ZRANGEBYSCORE', q, '(' .. ARGV[2], '+inf', 'LIMIT', 0, ARGV[3])
else
  ids = redis.call('ZRANGEBYSCORE', q, '(' .. ARGV[2], '+inf')
end
local recs = {}
if #ids > 0 then
  recs = redis.call('HMGET', m, unpack(ids))
end
if changed then settle(now, hold) end
return {expired, ids, recs}
`)

// removeScript removes messages by id and returns how many were held.
//
// ARGV: now (Unix ms), hold (ms), then the ids.
var removeScript = newScript(luaCommon + `
local removed = 0
for i = 3, #ARGV do
  if del(ARGV[i]) then removed = removed + 1 end
end
if changed then settle(tonumber(ARGV[1]), tonumber(ARGV[2])) end
return removed
`)

// script is a Lua script run with EVALSHA, and with EVAL when Redis does not
// have it (after a restart or a failover).
type script struct {
	src string
	sha string
}

func newScript(src string) *script {
	sum := sha1.Sum([]byte(src))
	return &script{src: src, sha: hex.EncodeToString(sum[:])}
}
