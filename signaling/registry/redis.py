"""Rooms shared by several workers through Redis.

Redis holds the truth: which peers are in which room and which worker's channel reaches each of them. Joins and
leaves are Lua scripts, so capacity holds however many workers admit peers at once. Each worker keeps, for the
rooms its own peers are in, a *view* of the members and their workers; a relayed message reads only that view:
to a peer on this worker it is written straight to the socket, to a peer elsewhere it goes through the
channels-redis pub/sub layer to that worker's channel, batched per worker.

A member whose socket drops is *parked* in Redis, not in its worker's memory: any worker may then resume it
(``RESUME``: the place moves to the resuming worker, atomically, with what was kept for it), or let it leave when
its grace period is over (every worker's upkeep sweeps the deadlines). A dead worker's members are parked the same
way when it is reaped, so their clients, back on another worker within seconds, resume under their own ids.

Every membership change gets a version from Redis (its clock in microseconds, kept strictly increasing), and
views apply changes last-writer-wins per peer, so notices that arrive out of order between workers, or before
the script that created them has answered, still leave every view right.

Keys, under ``SIGNALING["REDIS_PREFIX"]`` (P)::

    P:room:<room>      hash  peer -> "worker|version|mount" ("@parked|..." while the peer waits for a resume)
    P:state:<room>     hash  peer -> its state as JSON (metadata, media), for members that have one
    P:parked           zset  "room|peer" of parked peers, scored by when their grace period ends (ms)
    P:parked:<room>:<peer>  hash  a parked peer: bytes kept, reason it will leave with, when it dropped
    P:kept:<room>:<peer>    list  frames kept for a parked peer, in order
    P:rooms            set   live room ids
    P:workers          set   workers' channels
    P:hb:<worker>      "host:pid" of the worker, expires after WORKER_TIMEOUT
    P:gone:<worker>    set for a minute when a worker drained or was reaped: frames for it follow its peers
    P:peers:<worker>   hash  peer -> room: what a dead worker leaves to clean up
    P:clock            the last version handed out
    P:epoch            set once; a new value means Redis lost everything
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
import weakref
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import redis
import redis.asyncio.retry
import redis.retry
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from redis.backoff import NoBackoff

from signaling import metrics
from signaling.background import in_background
from signaling.conf import conf
from signaling.metadata import PeerState, decode_state, encode_state
from signaling.policy import get_room_resolver
from signaling.protocol import ROLE_PEER_PREFIX, CloseCode, LeaveReason, peer_joined_frame, peer_left_frame
from signaling.registry import (
    JoinResult,
    PeerHandle,
    RegistryUnavailable,
    Resumed,
    RoomFull,
    RoomRegistry,
    count_relayed_locally,
    deliver,
    evict_members,
    send_departure_events,
)
from signaling.registry.connection import async_client, layer_host, parse_redis_url, pending, reply, sync_client

logger = logging.getLogger(__name__)

# Seconds a Redis command may take before the registry gives up on it: nothing may hang on a lost Redis.
REDIS_TIMEOUT = 2.0
# One immediate retry, to replace a pooled connection that a Redis restart closed. redis-py's default (retries
# with exponential backoff up to 10 s) would hold the upkeep loop for seconds after a restart, and a worker whose
# heartbeat is late gets taken for dead; the upkeep loop itself tries again every WORKER_TIMEOUT / 4.
RETRIES = 1
# Seconds a worker that left the registry still takes what publishers who saw it before sent to its channel.
QUIET_PERIOD = 0.2
# Most notices one pub/sub message carries.
BATCH_SIZE = 500
# How long a batch is retried while Redis is unreachable before it is dropped.
PUBLISH_RETRY_SECONDS = 10.0
# Departed peers are remembered in a view this long, to outlast any notice still on its way.
TOMBSTONE_SECONDS = 60.0
# The version of a departure this worker could not get from Redis: above any other, since peer ids never return.
DEPARTED_FOR_GOOD = 2**62

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
JOIN = _VERSION + """
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

# KEYS: room, rooms, owner's peers, clock, states. ARGV: room id, peer, owner (the worker that holds the peer).
LEAVE = _VERSION + """
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

# KEYS: room, rooms, worker's peers, clock, states. ARGV: room id, peer, worker, mount, state ('' = none).
REJOIN = _VERSION + """
local v = next_version(KEYS[4])
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3] .. '|' .. v .. '|' .. ARGV[4])
if ARGV[5] ~= '' then redis.call('HSET', KEYS[5], ARGV[2], ARGV[5]) end
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[2], ARGV[1])
return v
"""

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

# KEYS: workers, dead worker's heartbeat, dead worker's peers. ARGV: dead worker.
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
# client (PeerHandle.client; '' when unknown).
PARK = _VERSION + _NOW_MS + """
local cur = redis.call('HGET', KEYS[1], ARGV[2])
if not cur or string.sub(cur, 1, #ARGV[3] + 1) ~= ARGV[3] .. '|' then return false end
local mount = string.match(cur, '|([^|]*)$')
local v = next_version(KEYS[6])
redis.call('HSET', KEYS[1], ARGV[2], '""" + PARKED + """|' .. v .. '|' .. mount)
redis.call('HDEL', KEYS[2], ARGV[2])
redis.call('DEL', KEYS[3], KEYS[4])
redis.call('HSET', KEYS[3], 'bytes', '0', 'reason', ARGV[5], 'at', ARGV[7], 'client', ARGV[8])
redis.call('PEXPIRE', KEYS[3], tonumber(ARGV[4]) + 60000)
redis.call('ZADD', KEYS[5], now_ms() + tonumber(ARGV[4]), ARGV[6])
return {v, redis.call('HGETALL', KEYS[1])}
"""

# KEYS: parked, kept, room. ARGV: peer, frame, most frames, most bytes.
KEEP = """
local cur = redis.call('HGET', KEYS[3], ARGV[1])
if not cur then return {'gone'} end
if string.sub(cur, 1, """ + str(len(PARKED) + 1) + """) ~= '""" + PARKED + """|' then return {'moved', cur} end
local bytes = tonumber(redis.call('HGET', KEYS[1], 'bytes') or '0') + string.len(ARGV[2])
if redis.call('LLEN', KEYS[2]) >= tonumber(ARGV[3]) or bytes > tonumber(ARGV[4]) then return {'overflow'} end
redis.call('RPUSH', KEYS[2], ARGV[2])
redis.call('HSET', KEYS[1], 'bytes', bytes)
redis.call('PEXPIRE', KEYS[2], math.max(redis.call('PTTL', KEYS[1]), 1000))
return {'kept'}
"""

# KEYS: room, parked, kept, deadlines, claimer's peers, clock, states.
# ARGV: room id, peer, claimer, mount, key prefix, deadline member.
RESUME = _VERSION + """
local cur = redis.call('HGET', KEYS[1], ARGV[2])
if not cur then return false end
local old = string.match(cur, '^(.*)|[^|]*|[^|]*$')
local v = next_version(KEYS[6])
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3] .. '|' .. v .. '|' .. ARGV[4])
if old ~= '""" + PARKED + """' and old ~= ARGV[3] then redis.call('HDEL', ARGV[5] .. ':peers:' .. old, ARGV[2]) end
redis.call('HSET', KEYS[5], ARGV[2], ARGV[1])
local frames = {}
if old == '""" + PARKED + """' then frames = redis.call('LRANGE', KEYS[3], 0, -1) end
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('ZREM', KEYS[4], ARGV[6])
return {v, old, frames, redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[7])}
"""

# KEYS: room, parked, kept, deadlines, rooms, clock, states.
# ARGV: room id, peer, deadline member, reason ('' = as parked), "due" to act only once the deadline has passed.
EXPIRE_PARKED = _VERSION + _NOW_MS + """
if ARGV[5] == 'due' then
  local deadline = redis.call('ZSCORE', KEYS[4], ARGV[3])
  if deadline and tonumber(deadline) > now_ms() then return false end
end
local cur = redis.call('HGET', KEYS[1], ARGV[2])
redis.call('ZREM', KEYS[4], ARGV[3])
if not cur or string.sub(cur, 1, """ + str(len(PARKED) + 1) + """) ~= '""" + PARKED + """|' then return false end
local reason = ARGV[4]
if reason == '' then reason = redis.call('HGET', KEYS[2], 'reason') or 'disconnect' end
local at = redis.call('HGET', KEYS[2], 'at') or ''
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

# KEYS: room, states. ARGV: peer, owner, state. The room's members (to tell), or false when the peer is not the
# owner's member (any more).
UPDATE = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur or string.sub(cur, 1, #ARGV[2] + 1) ~= ARGV[2] .. '|' then return false end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return redis.call('HGETALL', KEYS[1])
"""

REDIS_ERRORS = (redis.RedisError, OSError, asyncio.TimeoutError)
# Which process a worker channel belongs to, for operators reading Redis.
IDENTITY = f"{socket.gethostname()}:{os.getpid()}"


def _pairs(flat: list[str]) -> dict[str, str]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _states(flat: list[str]) -> dict[str, PeerState]:
    return {peer_id: decode_state(text) for peer_id, text in _pairs(flat).items()}


def _parse_member(value: str) -> tuple[str, int, int]:
    """``worker|version|mount`` -> (worker, version, mount)."""
    worker, version, mount = value.rsplit("|", 2)
    return worker, int(version), int(mount)


class RoomView:
    """What a worker knows of a room's members: per peer, the newest change it has seen (LWW by version)."""

    __slots__ = ("entries",)

    def __init__(self) -> None:
        # peer -> (version, worker or None once departed, when it departed)
        self.entries: dict[str, tuple[int, str | None, float]] = {}

    def apply(self, peer_id: str, version: int, worker: str | None) -> None:
        current = self.entries.get(peer_id)
        if current is None or current[0] < version:
            self.entries[peer_id] = (version, worker, time.monotonic() if worker is None else 0.0)
            if worker is None and len(self.entries) > 64:
                self._prune()

    def load(self, members: dict[str, tuple[str, int, int]], as_of: int) -> None:
        """Take a snapshot of the room as of version ``as_of``."""
        for peer_id, (worker, version, _) in members.items():
            self.apply(peer_id, version, worker)
        for peer_id, (known_version, known_worker, _) in list(self.entries.items()):
            if known_worker is not None and known_version < as_of and peer_id not in members:
                self.apply(peer_id, as_of, None)

    def worker_of(self, peer_id: str) -> str | None:
        entry = self.entries.get(peer_id)
        return entry[1] if entry is not None else None

    def members(self) -> dict[str, str]:
        return {peer_id: worker for peer_id, (_, worker, _) in self.entries.items() if worker is not None}

    def _prune(self) -> None:
        cutoff = time.monotonic() - TOMBSTONE_SECONDS
        for peer_id, (_, worker, since) in list(self.entries.items()):
            if worker is None and since < cutoff:
                del self.entries[peer_id]


class Member:
    """A peer on this worker, as its worker's registry keeps it."""

    __slots__ = ("handle", "room_id", "stash", "state", "version")

    def __init__(self, handle: PeerHandle, room_id: str, state: PeerState | None = None) -> None:
        self.handle = handle
        self.room_id = room_id
        # Its metadata and media state, to register again if Redis loses the registry.
        self.state = state
        # None while its join script runs; announcements meanwhile wait in `stash` with their versions.
        self.version: int | None = None
        self.stash: list[tuple[int, str]] = []


class _Collector:
    """Stands in for a member's socket while the member is being parked: keeps what arrives, to be kept in Redis."""

    def __init__(self, mount: int, client: str) -> None:
        self.peer_id = ""
        self.mount = mount
        self.client = client
        self.frames: list[str] = []

    async def deliver(self, frame: str) -> None:
        self.frames.append(frame)

    async def end(self, code: int) -> None:
        pass

    async def evict(self, reason: str) -> None:
        pass

    async def replaced(self) -> None:
        pass


class Outbox:
    """What waits to be published to one other worker, bounded in characters of frames (``size``)."""

    __slots__ = ("items", "size", "task")

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.task: asyncio.Task[None] | None = None
        self.size = 0


class RedisRegistry(RoomRegistry):
    """Rooms in Redis, shared by every worker that points at the same ``SIGNALING["REDIS_URL"]``."""

    def __init__(self) -> None:
        url = conf.REDIS_URL
        if not url:
            raise ImproperlyConfigured("RedisRegistry needs SIGNALING['REDIS_URL'].")
        self.url = url
        try:
            self.target = parse_redis_url(url)
        except ValueError as error:
            raise ImproperlyConfigured(f"SIGNALING['REDIS_URL']: {error}") from error
        self.prefix = conf.REDIS_PREFIX
        self.worker_timeout = conf.WORKER_TIMEOUT
        self.outbox_limit = conf.CROSS_WORKER_BUFFER_BYTES
        self._workers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Worker] = weakref.WeakKeyDictionary()
        self._sync_client: redis.Redis | None = None

    def worker(self) -> Worker:
        """This event loop's worker (one per loop; a daphne process has one loop)."""
        loop = asyncio.get_running_loop()
        worker = self._workers.get(loop)
        if worker is None:
            worker = self._workers[loop] = Worker(self)
        return worker

    async def join(self, room_id: str, peer: PeerHandle, max_peers: int, state: PeerState | None = None) -> JoinResult:
        return await self.worker().join(room_id, peer, max_peers, state)

    async def update(self, room_id: str, peer_id: str, state: PeerState, frame: str) -> bool:
        return await self.worker().update(room_id, peer_id, state, frame)

    async def leave(self, room_id: str, peer_id: str, reason: str) -> bool | None:
        return await self.worker().leave(room_id, peer_id, reason)

    async def relay(self, room_id: str, sender_id: str, to: str | None, frame: str) -> int:
        return await self.worker().relay(room_id, sender_id, to, frame)

    parks_across_workers = True

    async def park(
        self, room_id: str, peer_id: str, expected: PeerHandle, grace: float, still_speaking: bool = False
    ) -> bool:
        return await self.worker().park(room_id, peer_id, expected, grace, still_speaking)

    async def shutdown(self) -> None:
        await self.worker().deregister()

    async def resume(self, room_id: str, peer_id: str, new: PeerHandle) -> Resumed | None:
        return await self.worker().resume(room_id, peer_id, new)

    async def release_parked_seat(self, room_id: str, role_peer: bool, client: str) -> bool:
        return await self.worker().release_parked_seat(room_id, role_peer, client)

    async def evict(self, room_id: str, peer_id: str | None, reason: str) -> int:
        return await self.worker().evict(room_id, peer_id, reason)

    def members(self, room_id: str) -> list[str]:
        try:
            return [str(peer_id) for peer_id in reply(self._client().hkeys(self.key("room", room_id)))]
        except REDIS_ERRORS as error:
            raise RegistryUnavailable(str(error)) from error

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def _client(self) -> redis.Redis:
        if self._sync_client is None:
            self._sync_client = sync_client(
                self.target, decode_responses=True, socket_timeout=REDIS_TIMEOUT,
                socket_connect_timeout=REDIS_TIMEOUT, retry=redis.retry.Retry(NoBackoff(), RETRIES),
            )
        return self._sync_client

    def occupancy(self, room_ids: Iterable[str]) -> dict[str, int]:
        ids = list(room_ids)
        try:
            pipe = self._client().pipeline(transaction=False)
            for room_id in ids:
                pipe.hlen(self.key("room", room_id))
            return dict(zip(ids, (int(n) for n in pipe.execute()), strict=True))
        except REDIS_ERRORS as error:
            raise RegistryUnavailable(str(error)) from error

    def live_rooms(self) -> dict[str, int]:
        try:
            room_ids = [str(room_id) for room_id in reply(self._client().smembers(self.key("rooms")))]
        except REDIS_ERRORS as error:
            raise RegistryUnavailable(str(error)) from error
        return {room_id: count for room_id, count in self.occupancy(room_ids).items() if count}

    async def ping(self) -> None:
        try:
            await asyncio.wait_for(pending(self.worker().redis.ping()), REDIS_TIMEOUT)
        except REDIS_ERRORS as error:
            metrics.REDIS_ERRORS.inc()
            raise RegistryUnavailable(str(error)) from error

    def local_counts(self) -> tuple[int, int]:
        workers = list(self._workers.values())
        return sum(len(w.local) for w in workers), sum(len(w.local_rooms) for w in workers)

    def parked_count(self) -> int:
        try:
            return int(reply(self._client().zcard(self.key("parked"))))
        except REDIS_ERRORS:
            return 0


class Worker:
    """One worker's side of the shared registry: its channel, its peers, its views, its upkeep."""

    def __init__(self, registry: RedisRegistry) -> None:
        self.registry = registry
        self.key = registry.key
        self.redis = async_client(
            registry.target, decode_responses=True, socket_timeout=REDIS_TIMEOUT,
            socket_connect_timeout=REDIS_TIMEOUT, retry=redis.asyncio.retry.Retry(NoBackoff(), RETRIES),
        )
        self.layer = RedisPubSubChannelLayer(
            hosts=[layer_host(
                registry.target, socket_connect_timeout=REDIS_TIMEOUT, socket_timeout=REDIS_TIMEOUT,
                retry=redis.asyncio.retry.Retry(NoBackoff(), RETRIES),
            )],
            prefix=f"{registry.prefix}:",
        )
        self.scripts = {
            name: self.redis.register_script(source)
            for name, source in (("join", JOIN), ("leave", LEAVE), ("rejoin", REJOIN), ("heartbeat", HEARTBEAT),
                                 ("claim", CLAIM), ("park", PARK), ("keep", KEEP), ("resume", RESUME),
                                 ("expire_parked", EXPIRE_PARKED), ("update", UPDATE))
        }
        self.channel = ""
        self.epoch: str | None = None
        self.local: dict[str, Member] = {}
        self.local_rooms: dict[str, dict[str, Member]] = {}
        self.views: dict[str, RoomView] = {}
        self.outboxes: dict[str, Outbox] = {}
        # Leaves that could not reach Redis; the upkeep loop retries them.
        self.unsynced_leaves: list[tuple[str, str, str]] = []
        self._start_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []

    # -- start and upkeep ------------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._tasks:
            return
        async with self._start_lock:
            if self._tasks:
                return
            try:
                if not self.channel:
                    # Subscribed before any peer is admitted, so no notice to this worker can be missed.
                    self.channel = await asyncio.wait_for(self.layer.new_channel("worker."), REDIS_TIMEOUT)
                await self.heartbeat()
            except REDIS_ERRORS as error:
                raise RegistryUnavailable(str(error)) from error
            loop = asyncio.get_running_loop()
            self._tasks = [loop.create_task(self._receive_loop()), loop.create_task(self._upkeep_loop())]

    async def deregister(self) -> None:
        """Leave the shared registry on a clean stop (after a drain this worker holds no peer): marked gone, so that
        frames published to its channel from now on follow their peers instead; frames already on their way are
        still taken and passed on for a moment; what waits in its outboxes is published (bounded). Then stop."""
        if self.channel:
            try:
                pipe = self.redis.pipeline(transaction=True)
                pipe.srem(self.key("workers"), self.channel)
                pipe.delete(self.key("hb", self.channel))
                pipe.set(self.key("gone", self.channel), "1", ex=60)
                await asyncio.wait_for(pipe.execute(), REDIS_TIMEOUT)
            except REDIS_ERRORS:
                metrics.REDIS_ERRORS.inc()
            # Publishers that saw this worker before the mark may still reach it: take what they sent.
            await asyncio.sleep(QUIET_PERIOD)
        await self.stop(finish_outboxes=True)

    async def stop(self, finish_outboxes: bool = False) -> None:
        """Stop this worker's tasks and connections (its registration then expires like a dead worker's); with
        ``finish_outboxes``, what waits to be published is published first (bounded), not dropped."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        outboxes = [outbox.task for outbox in self.outboxes.values() if outbox.task and not outbox.task.done()]
        if outboxes and finish_outboxes:
            await asyncio.wait(outboxes, timeout=REDIS_TIMEOUT)
        for task in outboxes:
            task.cancel()
        # Bounded throughout: stopping must not hang on a Redis that is gone or a task slow to unwind.
        if tasks or outboxes:
            await asyncio.wait([*tasks, *outboxes], timeout=REDIS_TIMEOUT)
        for closing in (self.redis.aclose(), self.layer.flush()):
            try:
                await asyncio.wait_for(closing, REDIS_TIMEOUT)
            except (*REDIS_ERRORS, RuntimeError):
                pass

    async def _upkeep_loop(self) -> None:
        interval = max(0.1, self.registry.worker_timeout / 4)
        failing = False
        while True:
            await asyncio.sleep(interval)
            try:
                await self.heartbeat()
                await self._retry_unsynced_leaves()
                await self.reap_dead_workers()
                await self.expire_due_parked()
                if failing:
                    logger.warning("Redis reachable again")
                failing = False
            except REDIS_ERRORS:
                metrics.REDIS_ERRORS.inc()
                if not failing:
                    logger.warning("Redis unreachable; relays between peers on this worker go on", exc_info=True)
                failing = True
            except Exception:
                logger.exception("Registry upkeep failed")

    async def heartbeat(self) -> None:
        timeout_ms = int(self.registry.worker_timeout * 1000)
        missing, epoch = await self.scripts["heartbeat"](
            keys=[self.key("workers"), self.key("hb", self.channel), self.key("epoch")],
            args=[self.channel, timeout_ms, uuid.uuid4().hex, IDENTITY],
        )
        if self.epoch is None:
            self.epoch = epoch
        elif epoch != self.epoch:
            logger.warning("Redis lost the registry; registering this worker's %d peers again", len(self.local))
            self.epoch = epoch
            await self._rebuild()
        elif missing:
            # Same Redis, but another worker took this one for dead and announced its peers as gone.
            await self._evicted()

    async def _rebuild(self) -> None:
        for peer_id, member in list(self.local.items()):
            if member.version is None:
                continue
            await self.scripts["rejoin"](
                keys=self._member_keys(member.room_id),
                args=[member.room_id, peer_id, self.channel, member.handle.mount,
                      encode_state(member.state) if member.state else ""],
            )

    async def _evicted(self) -> None:
        logger.error("This worker was declared dead (it stalled past WORKER_TIMEOUT); closing its %d peers",
                     len(self.local))
        members = list(self.local.values())
        self.local.clear()
        self.local_rooms.clear()
        self.views.clear()
        for member in members:
            await member.handle.end(CloseCode.SERVICE_RESTART)

    async def _retry_unsynced_leaves(self) -> None:
        while self.unsynced_leaves:
            room_id, peer_id, reason = self.unsynced_leaves[0]
            await self._leave_in_redis(room_id, peer_id, reason, self.channel, local=False)
            self.unsynced_leaves.pop(0)

    async def reap_dead_workers(self) -> None:
        workers = [str(w) for w in await pending(self.redis.smembers(self.key("workers"))) if w != self.channel]
        if not workers:
            return
        pipe = self.redis.pipeline(transaction=False)
        for worker in workers:
            pipe.exists(self.key("hb", worker))
        alive = await pipe.execute()
        for worker, is_alive in zip(workers, alive, strict=True):
            if is_alive:
                continue
            peers = _pairs(
                await self.scripts["claim"](
                    keys=[self.key("workers"), self.key("hb", worker), self.key("peers", worker),
                          self.key("gone", worker)],
                    args=[worker],
                )
            )
            grace = conf.RESUME_GRACE
            if peers:
                logger.warning("Worker %s is gone; its %d peers %s", worker, len(peers),
                               f"may resume for {grace:g} s" if grace > 0 else "leave with reason timeout")
            for peer_id, room_id in peers.items():
                # Its clients may be back on another worker already (their resume moved them), or soon: their places
                # are kept like those of dropped sockets, and they leave with reason timeout if nobody resumes.
                if grace <= 0 or not await self._park_in_redis(room_id, peer_id, worker, grace,
                                                              LeaveReason.TIMEOUT.value):
                    await self._leave_in_redis(room_id, peer_id, LeaveReason.TIMEOUT.value, worker, emit=True)

    # -- membership ------------------------------------------------------------------------------------------

    def _member_keys(self, room_id: str, peers_key: str | None = None) -> list[str]:
        """KEYS of the join, leave and rejoin scripts; ``peers_key`` is this worker's peers unless given."""
        return [self.key("room", room_id), self.key("rooms"), peers_key or self.key("peers", self.channel),
                self.key("clock"), self.key("state", room_id)]

    async def join(self, room_id: str, peer: PeerHandle, max_peers: int, state: PeerState | None = None) -> JoinResult:
        await self.start()
        member = Member(peer, room_id, state)
        # Known locally before the script runs: notices about this room that arrive meanwhile find it.
        self.local[peer.peer_id] = member
        self.local_rooms.setdefault(room_id, {})[peer.peer_id] = member
        view = self.views.setdefault(room_id, RoomView())
        try:
            reply = await self.scripts["join"](
                keys=self._member_keys(room_id),
                args=[room_id, peer.peer_id, self.channel, max_peers, peer.mount, encode_state(state) if state else ""],
            )
        except REDIS_ERRORS as error:
            metrics.REDIS_ERRORS.inc()
            self._forget_local(room_id, peer.peer_id)
            raise RegistryUnavailable(str(error)) from error
        if reply[0] == "full":
            self._forget_local(room_id, peer.peer_id)
            raise RoomFull(max_peers)
        version = int(reply[0])
        members = {peer_id: _parse_member(value) for peer_id, value in _pairs(reply[1]).items()}
        view.load(members, as_of=version)
        member.version = version
        for stashed_version, frame in member.stash:
            if stashed_version > version:
                await deliver(peer, frame)
        member.stash.clear()
        await self._announce(room_id, peer.peer_id, version, self.channel, peer_joined_frame(peer.peer_id, state),
                             {worker for worker, _, _ in members.values()})
        return JoinResult(peers=list(members), room_created=not members, states=_states(reply[2]))

    async def update(self, room_id: str, peer_id: str, state: PeerState, frame: str) -> bool:
        member = self.local.get(peer_id)
        if member is None or member.room_id != room_id or member.version is None:
            return False
        try:
            flat = await self.scripts["update"](
                keys=[self.key("room", room_id), self.key("state", room_id)],
                args=[peer_id, self.channel, encode_state(state)],
            )
        except REDIS_ERRORS as error:
            metrics.REDIS_ERRORS.inc()
            raise RegistryUnavailable(str(error)) from error
        if not flat:
            return False
        member.state = state
        # To the workers of the members as Redis has them when the state changed, not as this worker's view has
        # them: a peer whose join ran before the change gets the frame even if its arrival has not reached this
        # worker yet (one whose join ran after finds the new state in its `joined`).
        workers = {worker for worker, _, _ in (_parse_member(value) for value in _pairs(flat).values())}
        for other_id, other in list(self.local_rooms.get(room_id, {}).items()):
            if other_id != peer_id:
                await deliver(other.handle, frame)
        recipients: dict[str, list[str]] = {}
        for other_id, value in _pairs(flat).items():
            worker = _parse_member(value)[0]
            if other_id != peer_id and worker not in (self.channel, PARKED):
                recipients.setdefault(worker, []).append(other_id)
        for worker in workers - {self.channel, PARKED}:
            self._post(worker, {"r": room_id, "x": peer_id, "f": frame, "p": recipients.get(worker, [])})
        return True

    async def leave(self, room_id: str, peer_id: str, reason: str) -> bool | None:
        if self.local.get(peer_id) is None:
            return None
        self._forget_local(room_id, peer_id, keep_view=True)
        try:
            destroyed = await self._leave_in_redis(room_id, peer_id, reason, self.channel)
        except REDIS_ERRORS:
            metrics.REDIS_ERRORS.inc()
            # Redis will hear of it from the upkeep loop; this worker's own peers hear of it now.
            self.unsynced_leaves.append((room_id, peer_id, reason))
            frame = peer_left_frame(peer_id, reason)
            view = self.views.get(room_id)
            if view is not None:
                view.apply(peer_id, DEPARTED_FOR_GOOD, None)
            for member in list(self.local_rooms.get(room_id, {}).values()):
                await deliver(member.handle, frame)
            destroyed = room_id not in self.local_rooms and not (view and view.members())
        if room_id not in self.local_rooms:
            self.views.pop(room_id, None)
        return destroyed

    async def _leave_in_redis(
        self, room_id: str, peer_id: str, reason: str, owner: str, *, emit: bool = False, local: bool = True
    ) -> bool | None:
        """Remove a peer that ``owner`` holds in Redis and announce it (to this worker's peers too unless ``local``
        is False); with ``emit``, also send its lifecycle events (when reaping a dead worker's peer). None when
        the peer is not ``owner``'s any more (a resume moved it), which announces nothing."""
        reply = await self.scripts["leave"](
            keys=self._member_keys(room_id, self.key("peers", owner)), args=[room_id, peer_id, owner]
        )
        if reply[0] == "moved":
            return None
        version_text, flat, old = reply
        version = int(version_text)
        members = {peer: _parse_member(value) for peer, value in _pairs(flat).items()}
        await self._announce(room_id, peer_id, version, None, peer_left_frame(peer_id, reason),
                             {worker for worker, _, _ in members.values()}, local=local)
        destroyed = bool(old) and not members
        if emit and old:
            send_departure_events(room_id, peer_id, reason, _parse_member(old)[2], destroyed, timezone.now())
        return destroyed

    # -- parking and resuming ----------------------------------------------------------------------------------

    def _parked_keys(self, room_id: str, peer_id: str) -> tuple[str, str]:
        return self.key("parked", room_id, peer_id), self.key("kept", room_id, peer_id)

    async def _park_in_redis(
        self, room_id: str, peer_id: str, owner: str, grace: float, reason: str, client: str = ""
    ) -> bool:
        """Turn ``owner``'s member into a parked one, announced silently to the room's workers; False when it is
        not ``owner``'s (any more)."""
        parked_key, kept_key = self._parked_keys(room_id, peer_id)
        reply = await self.scripts["park"](
            keys=[self.key("room", room_id), self.key("peers", owner), parked_key, kept_key, self.key("parked"),
                  self.key("clock")],
            args=[room_id, peer_id, owner, int(grace * 1000), reason, f"{room_id}|{peer_id}", f"{time.time():.3f}",
                  client],
        )
        if not reply:
            return False
        members = {peer: _parse_member(value) for peer, value in _pairs(reply[1]).items()}
        await self._announce(room_id, peer_id, int(reply[0]), PARKED, None, {w for w, _, _ in members.values()})
        return True

    async def park(
        self, room_id: str, peer_id: str, expected: PeerHandle, grace: float, still_speaking: bool = False
    ) -> bool:
        member = self.local.get(peer_id)
        if member is None or member.room_id != room_id or member.handle is not expected or member.version is None:
            return False
        # Frames for the peer that reach this worker while the script runs are collected, then kept in Redis.
        collector = _Collector(expected.mount, expected.client)
        member.handle = collector
        try:
            parked = await self._park_in_redis(room_id, peer_id, self.channel, grace, LeaveReason.DISCONNECT.value,
                                               expected.client)
        except REDIS_ERRORS:
            metrics.REDIS_ERRORS.inc()
            parked = False
        if not parked:
            member.handle = expected
            return False
        while collector.frames:
            await self._keep(room_id, peer_id, collector.frames.pop(0))
        # No await since the loop saw the collector empty: from here on, frames for the peer go to Redis. The
        # room's view goes too if no other member is here (frames that still arrive for the peer need none),
        # unless the peer still speaks: a drain parks a peer before it closes the socket, and what the client
        # sends meanwhile is relayed as the parked peer, through this view, until the worker stops.
        self._forget_local(room_id, peer_id, keep_view=still_speaking)
        # On time while this worker lives; every worker's upkeep sweep covers the case where it does not.
        loop = asyncio.get_running_loop()
        loop.call_later(grace, lambda: in_background(self._expire_when_due(room_id, peer_id), loop))
        return True

    async def _keep(self, room_id: str, peer_id: str, frame: str, forwarded: bool = False) -> None:
        """Keep a frame for a parked peer in Redis; if a resume moved the peer meanwhile, send it there instead."""
        parked_key, kept_key = self._parked_keys(room_id, peer_id)
        try:
            reply = await self.scripts["keep"](
                keys=[parked_key, kept_key, self.key("room", room_id)],
                args=[peer_id, frame, conf.PARKED_BUFFER_FRAMES, conf.PARKED_BUFFER_BYTES],
            )
        except REDIS_ERRORS:
            metrics.REDIS_ERRORS.inc()
            logger.warning("Could not keep a frame for parked peer %s: Redis unreachable", peer_id)
            return
        status = reply[0]
        if status == "overflow":
            # Its resume could no longer be complete: it leaves now.
            await self.expire_parked(room_id, peer_id, LeaveReason.DISCONNECT.value)
        elif status == "moved":
            worker = _parse_member(reply[1])[0]
            member = self.local.get(peer_id)
            if worker == self.channel and member is not None and member.room_id == room_id:
                await deliver(member.handle, frame)
            elif worker != self.channel and not forwarded:
                self._post(worker, {"r": room_id, "to": peer_id, "f": frame, "fw": 1})

    async def resume(self, room_id: str, peer_id: str, new: PeerHandle) -> Resumed | None:
        await self.start()
        parked_key, kept_key = self._parked_keys(room_id, peer_id)
        try:
            reply = await self.scripts["resume"](
                keys=[self.key("room", room_id), parked_key, kept_key, self.key("parked"),
                      self.key("peers", self.channel), self.key("clock"), self.key("state", room_id)],
                args=[room_id, peer_id, self.channel, new.mount, self.registry.prefix, f"{room_id}|{peer_id}"],
            )
        except REDIS_ERRORS as error:
            metrics.REDIS_ERRORS.inc()
            raise RegistryUnavailable(str(error)) from error
        if not reply:
            return None
        version, old, frames, flat, states = int(reply[0]), str(reply[1]), reply[2], reply[3], _states(reply[4])
        # Kept frames first, in order: the new handle holds them until its `joined` is out.
        for frame in frames:
            await new.deliver(frame)
        members = {peer: _parse_member(value) for peer, value in _pairs(flat).items()}
        existing = self.local.get(peer_id)
        if existing is not None and existing.room_id == room_id:
            previous, existing.handle, existing.version = existing.handle, new, version
            existing.state = states.get(peer_id)
            if previous is not new:
                await previous.replaced()
        else:
            member = Member(new, room_id, states.get(peer_id))
            member.version = version
            self.local[peer_id] = member
            self.local_rooms.setdefault(room_id, {})[peer_id] = member
        view = self.views.setdefault(room_id, RoomView())
        view.load(members, as_of=version)
        # Silently: every worker of the room (and the one that held the peer) learns where it is now.
        workers = {worker for worker, _, _ in members.values()} | ({old} - {PARKED})
        await self._announce(room_id, peer_id, version, self.channel, None, workers)
        return Resumed(
            peers=[other for other in members if other != peer_id], from_other_worker=old != self.channel,
            states=states,
        )

    async def expire_due_parked(self) -> None:
        """Let every parked peer whose grace period is over leave (any worker may: the script lets one win)."""
        seconds, microseconds = await self.redis.time()
        now_ms = int(seconds) * 1000 + int(microseconds) // 1000
        for due in await self.redis.zrangebyscore(self.key("parked"), "-inf", now_ms, start=0, num=500):
            room_id, _, peer_id = str(due).partition("|")
            await self.expire_parked(room_id, peer_id, "", due=True)

    async def _expire_when_due(self, room_id: str, peer_id: str) -> None:
        try:
            await self.expire_parked(room_id, peer_id, "", due=True)
        except REDIS_ERRORS:
            metrics.REDIS_ERRORS.inc()  # the upkeep loops' sweeps will let it leave

    async def expire_parked(self, room_id: str, peer_id: str, reason: str, due: bool = False) -> bool:
        """A parked peer leaves: with ``reason`` (kicked, room-closed, disconnect), or '' for the one it was parked
        with; with ``due``, only if its grace period is over (a resume and a new parking may have moved it).
        Announced to its room and recorded; False if it was not parked (any more)."""
        parked_key, kept_key = self._parked_keys(room_id, peer_id)
        reply = await self.scripts["expire_parked"](
            keys=[self.key("room", room_id), parked_key, kept_key, self.key("parked"), self.key("rooms"),
                  self.key("clock"), self.key("state", room_id)],
            args=[room_id, peer_id, f"{room_id}|{peer_id}", reason, "due" if due else ""],
        )
        if not reply:
            return False
        version, flat, parked_value, left_reason, dropped_at = reply
        members = {peer: _parse_member(value) for peer, value in _pairs(flat).items()}
        await self._announce(room_id, peer_id, int(version), None, peer_left_frame(peer_id, str(left_reason)),
                             {worker for worker, _, _ in members.values()})
        at = timezone.now()
        if dropped_at:
            at = datetime.fromtimestamp(float(dropped_at), tz=UTC)
        send_departure_events(room_id, peer_id, str(left_reason), _parse_member(parked_value)[2], not members, at)
        if room_id not in self.local_rooms:
            self.views.pop(room_id, None)
        return True

    def _forget_local(self, room_id: str, peer_id: str, keep_view: bool = False) -> None:
        self.local.pop(peer_id, None)
        room = self.local_rooms.get(room_id)
        if room is not None:
            room.pop(peer_id, None)
            if not room:
                del self.local_rooms[room_id]
                if not keep_view:
                    self.views.pop(room_id, None)

    async def _announce(
        self,
        room_id: str,
        peer_id: str,
        version: int,
        worker: str | None,
        frame: str | None,
        workers: set[str],
        local: bool = True,
    ) -> None:
        """Tell the room that ``peer_id`` arrived (``worker`` set) or left (None) at ``version``; with no
        ``frame``, only the workers' views learn of it (a peer parked, or moved by a resume)."""
        view = self.views.get(room_id)
        if view is not None:
            view.apply(peer_id, version, worker)
        if local and frame is not None:
            for member in list(self.local_rooms.get(room_id, {}).values()):
                if member.handle.peer_id != peer_id:
                    await _announce_to(member, version, frame)
        item: dict[str, Any] = {"r": room_id, "x": peer_id, "op": [peer_id, worker, version]}
        if frame is not None:
            item["f"] = frame
        for other in workers - {self.channel, PARKED}:
            self._post(other, item)

    # -- moderation ------------------------------------------------------------------------------------------

    async def release_parked_seat(self, room_id: str, role_peer: bool, client: str) -> bool:
        if not client:
            return False
        try:
            entries = await pending(self.redis.hgetall(self.key("room", room_id)))
            parked = [
                str(member) for member, value in entries.items()
                if _parse_member(str(value))[0] == PARKED and str(member).startswith(ROLE_PEER_PREFIX) == role_peer
            ]
            for peer_id in parked:
                parked_key, _ = self._parked_keys(room_id, peer_id)
                if await pending(self.redis.hget(parked_key, "client")) != client:
                    continue
                # A resume or the deadline may take it first: the script lets one win.
                if await self.expire_parked(room_id, peer_id, LeaveReason.DISCONNECT.value):
                    return True
        except REDIS_ERRORS as error:
            metrics.REDIS_ERRORS.inc()
            raise RegistryUnavailable(str(error)) from error
        return False

    async def evict(self, room_id: str, peer_id: str | None, reason: str) -> int:
        try:
            holders = {
                str(member): _parse_member(str(value))[0]
                for member, value in (await pending(self.redis.hgetall(self.key("room", room_id)))).items()
                if peer_id is None or member == peer_id
            }
            # The room must be forgotten by every worker's resolver, whether or not it holds a member: a closed
            # room's next join, or a kicked and banned user's, may reach any worker.
            workers = {str(name) for name in await pending(self.redis.smembers(self.key("workers")))}
            for parked_peer in [peer for peer, worker in holders.items() if worker == PARKED]:
                await self.expire_parked(room_id, parked_peer, reason)
            for worker in workers | (set(holders.values()) - {PARKED}):
                if worker == self.channel:
                    await self._evict_local(room_id, peer_id, reason)
                else:
                    # Sent now rather than through an outbox: a caller outside the worker's event loop (a
                    # management command) may close its loop as soon as this returns.
                    item = {"r": room_id, "ev": [peer_id, reason]}
                    await asyncio.wait_for(
                        self.layer.send(worker, {"type": "signaling.deliver", "items": [item]}), REDIS_TIMEOUT
                    )
        except REDIS_ERRORS as error:
            metrics.REDIS_ERRORS.inc()
            raise RegistryUnavailable(str(error)) from error
        get_room_resolver().forget(room_id)
        return len(holders)

    async def _evict_local(self, room_id: str, peer_id: str | None, reason: str) -> None:
        room = self.local_rooms.get(room_id, {})
        await evict_members(room_id, {member_id: member.handle for member_id, member in room.items()}, peer_id, reason)

    # -- relay -----------------------------------------------------------------------------------------------

    async def relay(self, room_id: str, sender_id: str, to: str | None, frame: str) -> int:
        view = self.views.get(room_id)
        if view is None:
            return 0
        if to is not None:
            worker = view.worker_of(to)
            if worker is None or to == sender_id:
                return 0
            if worker == PARKED:
                await self._keep(room_id, to, frame)
            elif worker == self.channel:
                member = self.local.get(to)
                if member is None or member.room_id != room_id:
                    return 0
                await deliver(member.handle, frame)
                count_relayed_locally(1)
            else:
                self._post(worker, {"r": room_id, "to": to, "f": frame})
            return 1
        count = 0
        for peer_id, member in list(self.local_rooms.get(room_id, {}).items()):
            if peer_id != sender_id:
                await deliver(member.handle, frame)
                count += 1
        count_relayed_locally(count)
        remote: dict[str, list[str]] = {}
        for peer_id, worker in view.members().items():
            if worker == PARKED and peer_id != sender_id:
                await self._keep(room_id, peer_id, frame)
                count += 1
            elif worker != self.channel and peer_id != sender_id:
                remote.setdefault(worker, []).append(peer_id)
        for worker, peers in remote.items():
            # Named: a worker that no longer holds one of them (parked, or resumed elsewhere, since this view
            # was current) keeps the frame for it rather than losing it.
            self._post(worker, {"r": room_id, "x": sender_id, "f": frame, "p": peers})
            count += len(peers)
        return count

    def _post(self, worker: str, item: dict[str, Any]) -> None:
        outbox = self.outboxes.get(worker)
        if outbox is None:
            outbox = self.outboxes[worker] = Outbox()
        size = len(item.get("f", ""))
        if outbox.size + size > self.registry.outbox_limit:
            metrics.CROSS_WORKER_DROPPED.inc()
            logger.error("Dropping a message for worker %s: %d bytes already wait for Redis", worker, outbox.size)
            return
        metrics.RELAYED_CROSS_WORKER.inc()
        outbox.size += size
        outbox.items.append(item)
        if outbox.task is None or outbox.task.done():
            outbox.task = asyncio.get_running_loop().create_task(self._flush(worker, outbox))

    async def _flush(self, worker: str, outbox: Outbox) -> None:
        # One task per destination, sending batches in order: what one peer sends another arrives in order.
        while outbox.items:
            batch = outbox.items[:BATCH_SIZE]
            del outbox.items[:BATCH_SIZE]
            outbox.size -= sum(len(item.get("f", "")) for item in batch)
            deadline = time.monotonic() + PUBLISH_RETRY_SECONDS
            while True:
                try:
                    if await self._publish(worker, batch):
                        break
                    # Nobody listens on that worker's channel. A worker known to be gone (it drained, or it was
                    # reaped): its peers are parked or moved, and the frames meant for them go after them. Any
                    # other (resubscribing after a Redis restart, or dead but not reaped yet): publish again
                    # shortly, until it listens or is known gone.
                    if await self.redis.exists(self.key("gone", worker)):
                        await self._redirect(worker, batch)
                        break
                except REDIS_ERRORS:
                    metrics.REDIS_ERRORS.inc()
                if time.monotonic() > deadline:
                    metrics.CROSS_WORKER_DROPPED.inc(len(batch))
                    logger.error("Dropped %d messages for worker %s: not delivered for %.0f s", len(batch), worker,
                                 PUBLISH_RETRY_SECONDS)
                    break
                metrics.CROSS_WORKER_RETRIED.inc()
                await asyncio.sleep(0.2)
        if self.outboxes.get(worker) is outbox and not outbox.items:
            del self.outboxes[worker]

    async def _publish(self, worker: str, batch: list[dict[str, Any]]) -> bool:
        """Publish one batch; True when the worker's channel had a subscriber to take it. Redis errors go to the
        caller (it retries). An item the layer cannot serialize spoils only itself: the batch is then sent item by
        item and that one is dropped and logged.

        Published with this worker's own Redis client rather than the channel layer's ``send``, in the layer's
        serialization: ``PUBLISH`` answers how many subscribers took the message, which ``send`` does not tell."""
        try:
            payload = self.layer.serialize({"type": "signaling.deliver", "items": batch, "at": time.time()})
        except Exception:
            if len(batch) == 1:
                metrics.CROSS_WORKER_DROPPED.inc()
                logger.exception("Dropped a message for worker %s that cannot be serialized", worker)
                return True
            delivered = True
            for item in batch:
                delivered = await self._publish(worker, [item]) and delivered
            return delivered
        receivers = await asyncio.wait_for(self.redis.publish(worker, payload), REDIS_TIMEOUT)
        return int(receivers) > 0

    async def _redirect(self, gone: str, batch: list[dict[str, Any]]) -> None:
        """Frames for peers of a worker that is gone follow them: kept if they are parked, sent on if a resume moved
        them. Announcements meant for its peers' views are moot."""
        for item in batch:
            frame = item.get("f")
            if frame is None or "op" in item:
                continue
            room_id = item["r"]
            if item.get("to") is not None:
                await self._keep(room_id, item["to"], frame, forwarded=bool(item.get("fw")))
                continue
            if item.get("p") is not None:
                for peer_id in item["p"]:
                    await self._keep(room_id, peer_id, frame)
                continue
            view = self.views.get(room_id)
            sender = item.get("x")
            for peer_id, worker in (view.members() if view else {}).items():
                if worker == gone and peer_id != sender:
                    await self._keep(room_id, peer_id, frame)

    async def _receive_loop(self) -> None:
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("Receiving from Redis failed; retrying", exc_info=True)
                await asyncio.sleep(0.5)
                continue
            sent_at = message.get("at")
            if isinstance(sent_at, float):
                metrics.CROSS_WORKER_LATENCY.observe(max(0.0, time.time() - sent_at))
            for item in message["items"]:
                try:
                    await self._apply(item)
                except Exception:
                    logger.exception("Applying a notice failed")

    async def _apply(self, item: dict[str, Any]) -> None:
        room_id = item["r"]
        evict = item.get("ev")
        if evict is not None:
            await self._evict_local(room_id, evict[0], evict[1])
            return
        to = item.get("to")
        if to is not None:
            member = self.local.get(to)
            if member is not None and member.room_id == room_id:
                await deliver(member.handle, item["f"])
                count_relayed_locally(1)
            else:
                # Sent while the sender took the peer to be here: it was parked or resumed elsewhere since.
                await self._keep(room_id, to, item["f"], forwarded=bool(item.get("fw")))
            return
        recipients = item.get("p")
        if recipients is not None and "op" not in item:
            # A frame for the room: to its members here (one that joined since the sender's view was current
            # too), and kept for those the sender took to be here that are not any more (parked, or resumed
            # elsewhere, meanwhile).
            sender = item.get("x")
            delivered = {sender}
            for peer_id, member in list(self.local_rooms.get(room_id, {}).items()):
                if peer_id not in delivered:
                    delivered.add(peer_id)
                    await deliver(member.handle, item["f"])
                    count_relayed_locally(1)
            for peer_id in recipients:
                if peer_id not in delivered:
                    await self._keep(room_id, peer_id, item["f"])
            return
        view = self.views.get(room_id)
        if view is None:
            return  # no peer of this room is on this worker (any more)
        op = item.get("op")
        sender = item.get("x")
        if op is None:
            # From a worker that does not name the recipients (an older release, during a rolling deploy).
            for peer_id, member in list(self.local_rooms.get(room_id, {}).items()):
                if peer_id != sender:
                    await deliver(member.handle, item["f"])
                    count_relayed_locally(1)
            return
        peer_id, worker, version = op
        view.apply(peer_id, version, worker)
        moved = self.local.get(peer_id)
        if (worker is not None and worker != self.channel and moved is not None and moved.room_id == room_id
                and moved.version is not None and version > moved.version):
            # A resume on another worker took this peer's place: its socket here is closed, nothing announced.
            self._forget_local(room_id, peer_id)
            await moved.handle.replaced()
        frame = item.get("f")
        if frame is None:
            return
        for member in list(self.local_rooms.get(room_id, {}).values()):
            if member.handle.peer_id != peer_id:
                await _announce_to(member, version, frame)


async def _announce_to(member: Member, version: int, frame: str) -> None:
    """Deliver an arrival or departure unless the member's own join came later (its ``joined`` covers it)."""
    if member.version is None:
        member.stash.append((version, frame))
    elif version > member.version:
        await deliver(member.handle, frame)
