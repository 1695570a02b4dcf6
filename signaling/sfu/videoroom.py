"""The VideoRoom requests the workers make (Janus's VideoRoom plugin: https://janus.conf.meetecho.com/docs/videoroom),
and how a room of ours maps to one of Janus's.

A room of ours is a Janus room named ``<prefix><digest of our room id>`` (Janus runs with ``string_ids``), created
with the VideoRoom's ``admin_key`` (only the workers know it) and, derived from that key and the room id, a
``secret`` (to destroy or change it) and a ``pin`` (to join it): every worker computes the same without sharing
state, and no one without the admin key can join, publish to or subscribe to any of these rooms, nor tell one room's
pin from another's. Participants join under our peer ids, so the feeds a subscriber sees are named as our peers.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from signaling.sfu.janus import JanusError, JanusHandle

#: VideoRoom error codes (janus_videoroom.c) the workers act on.
NO_SUCH_ROOM = 426
ROOM_EXISTS = 427
NO_SUCH_FEED = 428

#: Bits per second a publisher may send (Janus's REMB cap): room for the three simulcast layers of the browser
#: client (``sfu.js`` ``SIMULCAST_LAYERS``: 700 + 250 + 100 kbit/s) with the audio.
PUBLISHER_BITRATE = 1_200_000


@dataclass(frozen=True)
class JanusRoom:
    """Our room ``room_id`` as Janus knows it."""

    room_id: str
    janus_id: str
    secret: str
    pin: str

    @classmethod
    def of(cls, room_id: str, admin_key: str, prefix: str = "rtc-") -> JanusRoom:
        def derived(purpose: str) -> str:
            return hmac.new(admin_key.encode(), f"{purpose}\n{room_id}".encode(), hashlib.sha256).hexdigest()[:32]

        digest = hashlib.sha256(room_id.encode()).hexdigest()[:32]
        return cls(room_id, f"{prefix}{digest}", derived("secret"), derived("pin"))


class VideoRoomAdmin:
    """The requests about rooms (create, destroy, kick, list), made on one handle of the worker's own."""

    def __init__(self, handle: JanusHandle, admin_key: str, prefix: str = "rtc-") -> None:
        self.handle = handle
        self.admin_key = admin_key
        self.prefix = prefix

    def room(self, room_id: str) -> JanusRoom:
        return JanusRoom.of(room_id, self.admin_key, self.prefix)

    async def ensure(self, room_id: str, publishers: int, *, bitrate: int = PUBLISHER_BITRATE) -> JanusRoom:
        """The Janus room of ``room_id``, created if it does not exist yet (by this worker or another)."""
        room = self.room(room_id)
        body = {
            "request": "create",
            "room": room.janus_id,
            "admin_key": self.admin_key,
            "secret": room.secret,
            "pin": room.pin,
            "is_private": True,
            "permanent": False,
            "publishers": publishers,
            "bitrate": bitrate,
            "audiolevel_event": True,
            "description": room_id[:100],
        }
        try:
            await self.handle.message(body)
        except JanusError as error:
            if error.code != ROOM_EXISTS:
                raise
        return room

    async def destroy(self, room_id: str) -> bool:
        """Destroy the Janus room of ``room_id`` (its participants are hung up); False when there was none."""
        room = self.room(room_id)
        try:
            await self.handle.message({"request": "destroy", "room": room.janus_id, "secret": room.secret})
        except JanusError as error:
            if error.code == NO_SUCH_ROOM:
                return False
            raise
        return True

    async def kick(self, room_id: str, peer_id: str) -> bool:
        room = self.room(room_id)
        try:
            await self.handle.message({"request": "kick", "room": room.janus_id, "secret": room.secret, "id": peer_id})
        except JanusError as error:
            if error.code in (NO_SUCH_ROOM, NO_SUCH_FEED):
                return False
            raise
        return True

    async def participants(self, room_id: str) -> list[Mapping[str, Any]]:
        """Who is in the Janus room of ``room_id`` (``id``, ``display``, ``publisher``); [] when there is none."""
        room = self.room(room_id)
        try:
            reply = await self.handle.message({"request": "listparticipants", "room": room.janus_id})
        except JanusError as error:
            if error.code == NO_SUCH_ROOM:
                return []
            raise
        found = reply.plugin.get("participants")
        return list(found) if isinstance(found, list) else []

    async def exists(self, room_id: str) -> bool:
        reply = await self.handle.message({"request": "exists", "room": self.room(room_id).janus_id})
        return bool(reply.plugin.get("exists"))


def publisher_join(room: JanusRoom, peer_id: str, display: str = "") -> dict[str, Any]:
    """The body that joins ``peer_id`` to ``room`` as a publisher (it publishes with ``configure`` next)."""
    return {
        "request": "join",
        "ptype": "publisher",
        "room": room.janus_id,
        "pin": room.pin,
        "id": peer_id,
        "display": display[:100],
    }


def subscriber_join(room: JanusRoom, feeds: list[str], private_id: int | None = None) -> dict[str, Any]:
    """The body that subscribes to ``feeds`` (publishers' peer ids) in ``room``, on one connection."""
    body: dict[str, Any] = {
        "request": "join",
        "ptype": "subscriber",
        "room": room.janus_id,
        "pin": room.pin,
        "streams": [{"feed": feed} for feed in feeds],
    }
    if private_id is not None:
        body["private_id"] = private_id
    return body
