"""What a join must respect for a given room: whether it is known, open, and how many peers it admits.

Signaling knows no models. A ``RoomResolver`` (``SIGNALING["ROOM_RESOLVER"]``) answers for stored rooms; the
``rooms`` app provides one backed by its ``Room`` model. Resolvers are called on every join, so they should
answer from memory most of the time.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils import timezone
from django.utils.module_loading import import_string

from signaling.conf import conf


class Access(StrEnum):
    """Who may join a room."""

    #: Anyone who can reach the endpoint.
    ANONYMOUS = "anonymous"
    #: A logged-in user (session), or anyone with a room token.
    AUTHENTICATED = "authenticated"
    #: Only with a room token (a private room).
    TOKEN = "token"


class Topology(StrEnum):
    """How a room's media flows."""

    #: Every browser connects to every other (the default; up to four to six video participants).
    MESH = "mesh"
    #: Every browser sends once to the SFU (Janus's VideoRoom), which forwards to the others.
    SFU = "sfu"


@dataclass(frozen=True, slots=True)
class RoomPolicy:
    """A stored room's rules: ``max_peers`` None means the consumer's default; ``bans`` maps the id (as text) of
    each user banned from the room to when the ban ends."""

    max_peers: int | None = None
    is_open: bool = True
    access: Access = Access.ANONYMOUS
    bans: Mapping[str, datetime] = field(default_factory=dict)
    topology: Topology = Topology.MESH

    def banned_until(self, user_id: object) -> datetime | None:
        """When ``user_id``'s ban from this room ends, or None when it is not banned (now)."""
        if user_id is None or not self.bans:
            return None
        until = self.bans.get(str(user_id))
        return until if until is not None and until > timezone.now() else None


class RoomResolver(abc.ABC):
    """Looks up the stored rules of a room."""

    #: Whether this resolver knows any stored rooms (with none, ad-hoc rooms are the only rooms there are).
    stores_rooms: bool = True

    @abc.abstractmethod
    async def resolve(self, room_id: str) -> RoomPolicy | None:
        """The room's policy, or None when no such room is stored."""

    def forget(self, room_id: str) -> None:  # noqa: B027 (an optional hook: nothing to forget by default)
        """Drop what is remembered of ``room_id``: its stored rules changed (it was closed, say)."""


class AdHocRoomResolver(RoomResolver):
    """No stored rooms: every room is ad hoc and follows the consumer's defaults."""

    stores_rooms = False

    async def resolve(self, room_id: str) -> RoomPolicy | None:
        return None


_resolver: RoomResolver | None = None


def get_room_resolver() -> RoomResolver:
    """The process's resolver, built from ``SIGNALING["ROOM_RESOLVER"]`` on first use."""
    global _resolver
    if _resolver is None:
        resolver_class: Any = import_string(conf.ROOM_RESOLVER)
        _resolver = resolver_class()
    return _resolver


@receiver(setting_changed)
def _reset_resolver(*, setting: str, **kwargs: Any) -> None:
    global _resolver
    if setting == "SIGNALING":
        _resolver = None
