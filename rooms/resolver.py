"""Stored rooms' rules for the signaling endpoint.

Enable with ``SIGNALING = {"ROOM_RESOLVER": "rooms.resolver.ModelRoomResolver"}``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, ClassVar

from django.db import DatabaseError, connections
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from rooms.models import Room, RoomBan
from signaling.policy import Access, RoomPolicy, RoomResolver, Topology

logger = logging.getLogger(__name__)

# Lookups have a thread (and so a database connection) of their own: a batch of recorder writes never holds up
# a join, and the connection stays open between lookups instead of being opened for each one.
_reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rooms-resolver")


class ModelRoomResolver(RoomResolver):
    """Answers from ``Room`` rows (and their active ``RoomBan`` rows), cached for ``cache_seconds`` so that joins
    rarely wait on the database.

    Lookups for rooms not in the cache are gathered while one query runs and answered together by the next, so a
    burst of joins into many rooms costs a few queries, not one each. A save or delete in this process forgets
    the room at once; other workers see it within ``cache_seconds``.
    """

    cache_seconds: ClassVar[float] = 5.0
    #: Above this many cached rooms, expired entries are dropped.
    cache_prune_size: ClassVar[int] = 10_000
    #: Most rooms one query asks for (SQLite's limit on query parameters is far above it).
    batch_size: ClassVar[int] = 500

    # Shared by every instance in the process, so that invalidation reaches whichever instance is in use.
    _cache: ClassVar[dict[str, tuple[float, RoomPolicy | None]]] = {}
    _generation: ClassVar[int] = 0

    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Future[RoomPolicy | None]] = {}
        self._loader: asyncio.Task[None] | None = None

    async def resolve(self, room_id: str) -> RoomPolicy | None:
        entry = self._cache.get(room_id)
        if entry is not None and entry[0] > time.monotonic():
            return entry[1]
        loop = asyncio.get_running_loop()
        waiting = self._waiting.get(room_id)
        if waiting is None or waiting.get_loop() is not loop:
            waiting = self._waiting[room_id] = loop.create_future()
        if self._loader is None or self._loader.done() or self._loader.get_loop() is not loop:
            self._loader = loop.create_task(self._load_waiting())
        # Shielded: one joiner giving up must not cancel the answer the others wait for.
        return await asyncio.shield(waiting)

    async def _load_waiting(self) -> None:
        loop = asyncio.get_running_loop()
        while self._waiting:
            batch = dict(list(self._waiting.items())[: self.batch_size])
            for room_id in batch:
                del self._waiting[room_id]
            generation = ModelRoomResolver._generation
            try:
                policies = await loop.run_in_executor(_reader, self._fetch_with_retry, list(batch))
            except Exception as error:
                for future in batch.values():
                    if not future.done():
                        future.set_exception(error)
                continue
            # A save that happened while the query ran may not be in its answer: cache only if none did.
            if generation == ModelRoomResolver._generation:
                self._remember(policies)
            for room_id, future in batch.items():
                if not future.done():
                    future.set_result(policies.get(room_id))

    def _remember(self, policies: dict[str, RoomPolicy | None]) -> None:
        cache = self._cache
        now = time.monotonic()
        if len(cache) >= self.cache_prune_size:
            for key in [k for k, (expires, _) in cache.items() if expires <= now]:
                cache.pop(key, None)
        expires = now + self.cache_seconds
        for room_id, policy in policies.items():
            cache[room_id] = (expires, policy)

    def _fetch_with_retry(self, room_ids: list[str]) -> dict[str, RoomPolicy | None]:
        try:
            return self.fetch(room_ids)
        except DatabaseError:
            # The kept connection may have gone stale (a database restart): reconnect once.
            logger.warning("Room lookup failed; reconnecting", exc_info=True)
            connections.close_all()
            return self.fetch(room_ids)

    def fetch(self, room_ids: Collection[str]) -> dict[str, RoomPolicy | None]:
        """Read the rooms' policies from the database, None for rooms not stored (runs in a thread)."""
        policies: dict[str, RoomPolicy | None] = dict.fromkeys(room_ids)
        bans: dict[str, dict[str, datetime]] = {}
        active = RoomBan.objects.filter(room_id__in=room_ids, until__gt=timezone.now())
        for room_id, user_id, until in active.values_list("room_id", "user_id", "until"):
            # One user may have several bans: the one that ends last counts.
            room_bans = bans.setdefault(room_id, {})
            room_bans[str(user_id)] = max(until, room_bans.get(str(user_id), until))
        rows = Room.objects.filter(id__in=room_ids).values_list("id", "max_peers", "is_open", "access", "topology")
        for room_id, max_peers, is_open, access, topology in rows:
            policies[room_id] = RoomPolicy(
                max_peers=max_peers,
                is_open=is_open,
                access=Access(access),
                bans=bans.get(room_id, {}),
                topology=Topology(topology),
            )
        return policies

    @classmethod
    def forget(cls, room_id: str) -> None:
        """Drop the cached policy of one room."""
        cls._generation += 1
        cls._cache.pop(room_id, None)

    @classmethod
    def forget_all(cls) -> None:
        cls._generation += 1
        cls._cache.clear()


@receiver([post_save, post_delete], sender=Room, dispatch_uid="rooms.resolver.forget_room")
def _forget_saved_room(sender: type[Room], instance: Room, **kwargs: Any) -> None:
    ModelRoomResolver.forget(instance.pk)


@receiver([post_save, post_delete], sender=RoomBan, dispatch_uid="rooms.resolver.forget_banned_room")
def _forget_room_of_ban(sender: type[RoomBan], instance: RoomBan, **kwargs: Any) -> None:
    # This process at once; other workers within cache_seconds, or at once when the ban came with a kick (every
    # worker forgets a room a kick was made in).
    ModelRoomResolver.forget(instance.room_id)
