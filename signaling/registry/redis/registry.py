"""``RedisRegistry``: the ``RoomRegistry`` over Redis, one ``Worker`` per event loop, and the synchronous reads the
admin and the lobby make (live rooms, occupancy, members)."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Iterable

import redis
import redis.retry
from django.core.exceptions import ImproperlyConfigured
from redis.backoff import NoBackoff

from signaling import metrics
from signaling.conf import conf
from signaling.metadata import PeerState
from signaling.registry import Ended, JoinResult, PeerHandle, RegistryUnavailable, Resumed, RoomRegistry
from signaling.registry.connection import parse_redis_url, pending, reply, sync_client
from signaling.registry.placement import SfuPlacement
from signaling.registry.redis.limits import REDIS_ERRORS, REDIS_TIMEOUT, RETRIES
from signaling.registry.redis.placement import RedisPlacement
from signaling.registry.redis.worker import Worker
from signaling.timeouts import within


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
        self._placement: RedisPlacement | None = None

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
        self,
        room_id: str,
        peer_id: str,
        expected: PeerHandle,
        grace: float,
        still_speaking: bool = False,
        handoff: str = "",
    ) -> bool:
        return await self.worker().park(room_id, peer_id, expected, grace, still_speaking, handoff)

    async def shutdown(self) -> None:
        await self.worker().deregister()

    async def resume(self, room_id: str, peer_id: str, new: PeerHandle) -> Resumed | Ended | None:
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

    def sfu_placement(self) -> SfuPlacement:
        if self._placement is None:
            self._placement = RedisPlacement(self)
        return self._placement

    def sync_client(self) -> redis.Redis:
        """The registry's synchronous client (the admin, metrics and commands read through it)."""
        return self._client()

    def _client(self) -> redis.Redis:
        if self._sync_client is None:
            self._sync_client = sync_client(
                self.target,
                decode_responses=True,
                socket_timeout=REDIS_TIMEOUT,
                socket_connect_timeout=REDIS_TIMEOUT,
                retry=redis.retry.Retry(NoBackoff(), RETRIES),
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
            await within(pending(self.worker().redis.ping()), REDIS_TIMEOUT)
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
