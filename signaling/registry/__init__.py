"""Room membership and message delivery, behind one small interface.

The consumer never holds a list of room members: it asks the registry to admit a peer (atomically against the
room's capacity), to remove it, and to deliver a frame to one member or to all others. The in-process registry
(``memory``) serves one worker; a registry shared between workers implements the same interface.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from signaling.conf import conf


class PeerHandle(Protocol):
    """What a registry needs of a peer connected to this worker: its id and a way to write to its socket."""

    @property
    def peer_id(self) -> str: ...

    async def deliver(self, frame: str) -> None: ...


class RoomFull(Exception):
    """The room already holds ``max_peers`` peers; the joiner was not added."""

    def __init__(self, max_peers: int) -> None:
        super().__init__(max_peers)
        self.max_peers = max_peers


@dataclass(frozen=True, slots=True)
class JoinResult:
    """A successful join: the ids of the peers already present, and whether this join brought the room to life."""

    peers: list[str]
    room_created: bool


class RoomRegistry(abc.ABC):
    """Holds which peers are in which room and delivers frames between them."""

    @abc.abstractmethod
    async def join(self, room_id: str, peer: PeerHandle, max_peers: int) -> JoinResult:
        """Add ``peer`` to the room unless it is full (raise :class:`RoomFull`); atomic against other joins."""

    @abc.abstractmethod
    async def leave(self, room_id: str, peer_id: str) -> bool:
        """Remove the peer; return True when the room is left empty and so destroyed."""

    @abc.abstractmethod
    async def relay(self, room_id: str, sender_id: str, to: str | None, frame: str) -> int:
        """Deliver ``frame`` to member ``to``, or to every member but the sender; return how many got it.

        A ``to`` that is not a member of the room (or is the sender) delivers nothing.
        """

    @abc.abstractmethod
    def occupancy(self, room_ids: Iterable[str]) -> dict[str, int]:
        """Live peer count of each room (0 for rooms not live); callable from synchronous code."""

    @abc.abstractmethod
    def live_rooms(self) -> dict[str, int]:
        """Every live room with its peer count; callable from synchronous code."""


_registry: RoomRegistry | None = None


def get_registry() -> RoomRegistry:
    """The process's registry, built from ``SIGNALING["REGISTRY"]`` on first use."""
    global _registry
    if _registry is None:
        registry_class: Any = import_string(conf.REGISTRY)
        _registry = registry_class()
    return _registry


@receiver(setting_changed)
def _reset_registry(*, setting: str, **kwargs: Any) -> None:
    global _registry
    if setting == "SIGNALING":
        _registry = None
