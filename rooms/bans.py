"""Kicking a peer with a ban: the user behind the peer may not rejoin the room until the ban ends.

A peer is tied to a user by its session in the log (``PeerSession.user``: a logged-in user, or the user a room
token was issued to). An anonymous visitor has no identity that outlives its socket, so it can be kicked but not
banned: it could come back under a new peer id from a new tab at once.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from asgiref.sync import async_to_sync
from django.utils import timezone

from rooms.models import PeerSession, Room, RoomBan
from signaling import live

#: The ban durations the admin offers, in minutes (the REST API takes any whole number up to a year).
BAN_CHOICES = ((15, "15 minutes"), (60, "1 hour"), (24 * 60, "1 day"), (7 * 24 * 60, "1 week"))
MAX_BAN_MINUTES = 365 * 24 * 60


class CannotBan(Exception):
    """The peer cannot be banned (it is anonymous, or unknown to the log); nothing was done."""


def ban_peer(room: Room, peer_id: str, minutes: int, by: Any = None, reason: str = "") -> RoomBan:
    """Ban the user behind ``peer_id`` from ``room`` for ``minutes`` and kick the peer (if it is still there).
    Raises :class:`CannotBan` for a peer with no user, ``live.LiveRoomsUnavailable`` when the kick cannot be made (the
    ban stands: the user's next join is refused)."""
    session = PeerSession.objects.filter(peer_id=peer_id, room=room).select_related("user").first()
    if session is None:
        raise CannotBan(f"Peer {peer_id} has not been recorded in room {room.pk} (yet): kick it instead.")
    if session.user is None:
        raise CannotBan(f"Peer {peer_id} is anonymous: it can be kicked, not banned (it could rejoin at once).")
    ban = RoomBan.objects.create(
        room=room,
        user=session.user,
        until=timezone.now() + timedelta(minutes=minutes),
        reason=reason,
        created_by=by if getattr(by, "is_authenticated", False) else None,
    )
    # After the ban is stored: the kick makes every worker read the room's rules again, bans included.
    async_to_sync(live.kick)(room.pk, peer_id)
    return ban
