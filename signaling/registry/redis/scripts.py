"""The registry's Lua scripts: every change to a room's membership runs in Redis as one of them, atomically against
every other worker. Each says the KEYS and ARGV it takes."""

from __future__ import annotations

from signaling.protocol import ROLE_PEER_PREFIX

_VERSION = """
local function next_version(clock)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local v = math.max(now, tonumber(redis.call('GET', clock) or '0') + 1)
  local text = string.format('%.0f', v)
  redis.call('SET', clock, text)
  return text
end
"""

assert ROLE_PEER_PREFIX == "peer.", "the JOIN script below spells the prefix out"

# KEYS: room, rooms, worker's peers, clock, states. ARGV: room id, peer, worker, max peers, mount, state ('' = none).
# Participants count against the room's capacity, peers with a role (ids beginning "peer.") against its extra seats.
JOIN = (
    _VERSION
    + """
local role_peer = string.sub(ARGV[2], 1, 5) == 'peer.'
local seated = 0
for _, member in ipairs(redis.call('HKEYS', KEYS[1])) do
  if (string.sub(member, 1, 5) == 'peer.') == role_peer then seated = seated + 1 end
end
if seated >= tonumber(ARGV[4]) then return {'full'} end
local v = next_version(KEYS[4])
local members = redis.call('HGETALL', KEYS[1])
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3] .. '|' .. v .. '|' .. ARGV[5])
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[2], ARGV[1])
if ARGV[6] ~= '' then redis.call('HSET', KEYS[5], ARGV[2], ARGV[6]) end
return {v, members, redis.call('HGETALL', KEYS[5])}
"""
)

# KEYS: room, rooms, owner's peers, clock, states. ARGV: room id, peer, owner (the worker that holds the peer).
LEAVE = (
    _VERSION
    + """
local old = redis.call('HGET', KEYS[1], ARGV[2])
if old and string.sub(old, 1, #ARGV[3] + 1) ~= ARGV[3] .. '|' then
  -- A resume moved the peer to another worker, or it was parked: not the owner's to remove any more.
  redis.call('HDEL', KEYS[3], ARGV[2])
  return {'moved'}
end
redis.call('HDEL', KEYS[1], ARGV[2])
redis.call('HDEL', KEYS[3], ARGV[2])
redis.call('HDEL', KEYS[5], ARGV[2])
local v = next_version(KEYS[4])
local members = redis.call('HGETALL', KEYS[1])
if #members == 0 then
  redis.call('SREM', KEYS[2], ARGV[1])
  redis.call('DEL', KEYS[5])
end
return {v, members, old or ''}
"""
)

# KEYS: room, rooms, worker's peers, clock, states. ARGV: room id, peer, worker, mount, state ('' = none).
REJOIN = (
    _VERSION
    + """
local v = next_version(KEYS[4])
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3] .. '|' .. v .. '|' .. ARGV[4])
if ARGV[5] ~= '' then redis.call('HSET', KEYS[5], ARGV[2], ARGV[5]) end
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[2], ARGV[1])
return v
"""
)

# KEYS: workers, heartbeat, epoch. ARGV: worker, ttl in ms, a new epoch in case there is none, "host:pid".
HEARTBEAT = """
local epoch = redis.call('GET', KEYS[3])
if not epoch then
  redis.call('SET', KEYS[3], ARGV[3])
  epoch = ARGV[3]
end
local missing = redis.call('SADD', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[4], 'PX', ARGV[2])
return {missing, epoch}
"""

# KEYS: workers, dead worker's heartbeat, dead worker's peers, its gone mark. ARGV: dead worker.
CLAIM = """
if redis.call('EXISTS', KEYS[2]) == 1 then return {} end
if redis.call('SREM', KEYS[1], ARGV[1]) == 0 then return {} end
redis.call('SET', KEYS[4], '1', 'EX', 60)
local peers = redis.call('HGETALL', KEYS[3])
redis.call('DEL', KEYS[3])
return peers
"""

# A parked peer: its place is kept in Redis (its member entry's worker is PARKED) until a resume on any worker
# claims it or its deadline passes; what is sent to it meanwhile waits in a list of its own.
PARKED = "@parked"

_NOW_MS = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
"""

# KEYS: room, owner's peers, parked, kept, deadlines, clock.
# ARGV: room id, peer, owner, grace in ms, reason when it expires, deadline member ("room|peer"), dropped at (s),
# client (PeerHandle.client; '' when unknown), handoff (what the resuming connection takes over; '' when none).
PARK = (
    _VERSION
    + _NOW_MS
    + """
local cur = redis.call('HGET', KEYS[1], ARGV[2])
if not cur or string.sub(cur, 1, #ARGV[3] + 1) ~= ARGV[3] .. '|' then return false end
local mount = string.match(cur, '|([^|]*)$')
local v = next_version(KEYS[6])
redis.call('HSET', KEYS[1], ARGV[2], '"""
    + PARKED
    + """|' .. v .. '|' .. mount)
redis.call('HDEL', KEYS[2], ARGV[2])
redis.call('DEL', KEYS[3], KEYS[4])
redis.call('HSET', KEYS[3], 'bytes', '0', 'reason', ARGV[5], 'at', ARGV[7], 'client', ARGV[8], 'handoff', ARGV[9] or '')
redis.call('PEXPIRE', KEYS[3], tonumber(ARGV[4]) + 60000)
redis.call('ZADD', KEYS[5], now_ms() + tonumber(ARGV[4]), ARGV[6])
return {v, redis.call('HGETALL', KEYS[1])}
"""
)

# KEYS: parked, kept, room. ARGV: peer, frame, most frames, most bytes.
KEEP = (
    """
local cur = redis.call('HGET', KEYS[3], ARGV[1])
if not cur then return {'gone'} end
if string.sub(cur, 1, """
    + str(len(PARKED) + 1)
    + """) ~= '"""
    + PARKED
    + """|' then return {'moved', cur} end
local bytes = tonumber(redis.call('HGET', KEYS[1], 'bytes') or '0') + string.len(ARGV[2])
if redis.call('LLEN', KEYS[2]) >= tonumber(ARGV[3]) or bytes > tonumber(ARGV[4]) then return {'overflow'} end
redis.call('RPUSH', KEYS[2], ARGV[2])
redis.call('HSET', KEYS[1], 'bytes', bytes)
redis.call('PEXPIRE', KEYS[2], math.max(redis.call('PTTL', KEYS[1]), 1000))
return {'kept'}
"""
)

# KEYS: room, parked, kept, deadlines, claimer's peers, clock, states, ended.
# ARGV: room id, peer, claimer, mount, key prefix, deadline member.
# {'ended', reason} for a peer a moderator evicted (EXPIRE_PARKED, or the worker's leave of a connected peer, kept
# why); false when the peer is not a member.
RESUME = (
    _VERSION
    + """
local cur = redis.call('HGET', KEYS[1], ARGV[2])
if not cur then
  local ended = redis.call('GET', KEYS[8])
  if ended then return {'ended', ended} end
  return false
end
local old = string.match(cur, '^(.*)|[^|]*|[^|]*$')
local v = next_version(KEYS[6])
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3] .. '|' .. v .. '|' .. ARGV[4])
if old ~= '"""
    + PARKED
    + """' and old ~= ARGV[3] then redis.call('HDEL', ARGV[5] .. ':peers:' .. old, ARGV[2]) end
redis.call('HSET', KEYS[5], ARGV[2], ARGV[1])
local frames = {}
local handoff = ''
if old == '"""
    + PARKED
    + """' then
  frames = redis.call('LRANGE', KEYS[3], 0, -1)
  handoff = redis.call('HGET', KEYS[2], 'handoff') or ''
end
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('ZREM', KEYS[4], ARGV[6])
return {v, old, frames, redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[7]), handoff}
"""
)

# KEYS: room, parked, kept, deadlines, rooms, clock, states, ended.
# ARGV: room id, peer, deadline member, reason ('' = as parked), "due" to act only once the deadline has passed,
# how long (ms) the reason is kept for the peer's resume (RESUME; 0: not kept).
EXPIRE_PARKED = (
    _VERSION
    + _NOW_MS
    + """
if ARGV[5] == 'due' then
  local deadline = redis.call('ZSCORE', KEYS[4], ARGV[3])
  if deadline and tonumber(deadline) > now_ms() then return false end
end
local cur = redis.call('HGET', KEYS[1], ARGV[2])
redis.call('ZREM', KEYS[4], ARGV[3])
if not cur or string.sub(cur, 1, """
    + str(len(PARKED) + 1)
    + """) ~= '"""
    + PARKED
    + """|' then return false end
local reason = ARGV[4]
if reason == '' then reason = redis.call('HGET', KEYS[2], 'reason') or 'disconnect' end
local at = redis.call('HGET', KEYS[2], 'at') or ''
if tonumber(ARGV[6]) > 0 then redis.call('SET', KEYS[8], reason, 'PX', ARGV[6]) end
redis.call('HDEL', KEYS[1], ARGV[2])
redis.call('HDEL', KEYS[7], ARGV[2])
redis.call('DEL', KEYS[2], KEYS[3])
local v = next_version(KEYS[6])
local members = redis.call('HGETALL', KEYS[1])
if #members == 0 then
  redis.call('SREM', KEYS[5], ARGV[1])
  redis.call('DEL', KEYS[7])
end
return {v, members, cur, reason, at}
"""
)

# KEYS: room, states. ARGV: peer, owner, state. The room's members (to tell), or false when the peer is not the
# owner's member (any more).
UPDATE = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur or string.sub(cur, 1, #ARGV[2] + 1) ~= ARGV[2] .. '|' then return false end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return redis.call('HGETALL', KEYS[1])
"""
