"""Stored rooms' rules for the signaling endpoint: ``SIGNALING = {"ROOM_RESOLVER": "rooms.resolver.ModelRoomResolver"}``."""

from __future__ import annotations

import asyncio
import time
from typing import Any, ClassVar

from channels.db import database_sync_to_async
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from rooms.models import Room
from signaling.policy import RoomPolicy, RoomResolver


class ModelRoomResolver(RoomResolver):
    """Answers from ``Room`` rows, cached for ``cache_seconds`` so that joins rarely wait on the database.

    A save or delete in this process forgets the room at once; other workers see it within ``cache_seconds``.
    """

    cache_seconds: ClassVar[float] = 5.0
    #: Above this many cached rooms, expired entries are dropped.
    cache_prune_size: ClassVar[int] = 10_000

    # Shared by every instance in the process, so that invalidation reaches whichever instance is in use.
    _cache: ClassVar[dict[str, tuple[float, RoomPolicy | None]]] = {}
    _generation: ClassVar[int] = 0

    def __init__(self) -> None:
        self._loading: dict[str, asyncio.Future[RoomPolicy | None]] = {}

    async def resolve(self, room_id: str) -> RoomPolicy | None:
        entry = self._cache.get(room_id)
        if entry is not None and entry[0] > time.monotonic():
            return entry[1]
        # Joins that race into the same uncached room share one query.
        loading = self._loading.get(room_id)
        if loading is None or loading.get_loop() is not asyncio.get_running_loop():
            loading = asyncio.ensure_future(self._load(room_id))
            self._loading[room_id] = loading
            loading.add_done_callback(lambda done: self._forget_load(room_id, done))
        return await asyncio.shield(loading)

    def _forget_load(self, room_id: str, done: asyncio.Future[RoomPolicy | None]) -> None:
        if self._loading.get(room_id) is done:
            del self._loading[room_id]

    async def _load(self, room_id: str) -> RoomPolicy | None:
        generation = ModelRoomResolver._generation
        policy = await database_sync_to_async(self.fetch)(room_id)
        # A save that happened while the query ran may not be in its answer: cache only if none did.
        if generation == ModelRoomResolver._generation:
            cache = self._cache
            now = time.monotonic()
            if len(cache) >= self.cache_prune_size:
                for key in [k for k, (expires, _) in cache.items() if expires <= now]:
                    cache.pop(key, None)
            cache[room_id] = (now + self.cache_seconds, policy)
        return policy

    def fetch(self, room_id: str) -> RoomPolicy | None:
        """Read the room's policy from the database (runs in a thread)."""
        row = Room.objects.filter(id=room_id).values_list("max_peers", "is_open").first()
        if row is None:
            return None
        return RoomPolicy(max_peers=row[0], is_open=row[1])

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
