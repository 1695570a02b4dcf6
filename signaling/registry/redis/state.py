"""What one worker holds (its channel, clients, scripts, peers, views and courier), and the primitives every part of
it uses: the keys of a room's membership, forgetting a member here, announcing a change, removing a member from
Redis."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import redis.asyncio.retry
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.utils import timezone
from redis.backoff import NoBackoff

from signaling.protocol import peer_left_frame
from signaling.registry import send_departure_events
from signaling.registry.connection import async_client, layer_host
from signaling.registry.redis import wire
from signaling.registry.redis.courier import Courier
from signaling.registry.redis.limits import REDIS_TIMEOUT, RETRIES
from signaling.registry.redis.scripts import (
    CLAIM,
    EXPIRE_PARKED,
    HEARTBEAT,
    JOIN,
    KEEP,
    LEAVE,
    PARK,
    PARKED,
    REJOIN,
    RESUME,
    UPDATE,
)
from signaling.registry.redis.view import Member, RoomView, announce_to, pairs, parse_member

if TYPE_CHECKING:
    from signaling.registry.redis.registry import RedisRegistry

logger = logging.getLogger(__name__)


class WorkerState:
    """One worker's side of the shared registry: what it holds."""

    def __init__(self, registry: RedisRegistry) -> None:
        self.registry = registry
        self.key = registry.key
        self.redis = async_client(
            registry.target,
            decode_responses=True,
            socket_timeout=REDIS_TIMEOUT,
            socket_connect_timeout=REDIS_TIMEOUT,
            retry=redis.asyncio.retry.Retry(NoBackoff(), RETRIES),
        )
        self.layer = RedisPubSubChannelLayer(
            hosts=[
                layer_host(
                    registry.target,
                    socket_connect_timeout=REDIS_TIMEOUT,
                    socket_timeout=REDIS_TIMEOUT,
                    retry=redis.asyncio.retry.Retry(NoBackoff(), RETRIES),
                )
            ],
            prefix=f"{registry.prefix}:",
        )
        self.scripts = {
            name: self.redis.register_script(source)
            for name, source in (
                ("join", JOIN),
                ("leave", LEAVE),
                ("rejoin", REJOIN),
                ("heartbeat", HEARTBEAT),
                ("claim", CLAIM),
                ("park", PARK),
                ("keep", KEEP),
                ("resume", RESUME),
                ("expire_parked", EXPIRE_PARKED),
                ("update", UPDATE),
            )
        }
        self.channel = ""
        self.epoch: str | None = None
        self.local: dict[str, Member] = {}
        self.local_rooms: dict[str, dict[str, Member]] = {}
        self.views: dict[str, RoomView] = {}
        # What this worker sends other workers and receives from them; made by the Worker, which it calls back.
        self.courier: Courier
        # Leaves that could not reach Redis; the upkeep loop retries them.
        self.unsynced_leaves: list[tuple[str, str, str]] = []
        self._start_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Join the shared registry, once (``Life``)."""
        raise NotImplementedError

    def _member_keys(self, room_id: str, peers_key: str | None = None) -> list[str]:
        """KEYS of the join, leave and rejoin scripts; ``peers_key`` is this worker's peers unless given."""
        return [
            self.key("room", room_id),
            self.key("rooms"),
            peers_key or self.key("peers", self.channel),
            self.key("clock"),
            self.key("state", room_id),
        ]

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
        members = {peer: parse_member(value) for peer, value in pairs(flat).items()}
        await self._announce(
            room_id,
            peer_id,
            version,
            None,
            peer_left_frame(peer_id, reason),
            {worker for worker, _, _ in members.values()},
            local=local,
        )
        destroyed = bool(old) and not members
        if emit and old:
            send_departure_events(room_id, peer_id, reason, parse_member(old)[2], destroyed, timezone.now())
        return destroyed

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
                    await announce_to(member, version, frame)
        item = wire.membership(room_id, peer_id, worker, version, frame)
        for other in workers - {self.channel, PARKED}:
            self.courier.post(other, item)
