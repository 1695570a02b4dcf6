"""Room tokens: short-lived, signed permissions to join one room, carrying the user they were issued to.

The site issues them (the ``rooms`` REST API does, at ``POST /api/rooms/<id>/token``) and the endpoint checks them
on ``join.token`` or ``?token=``: a token opens its own room only, for ``SIGNALING["ROOM_TOKEN_TTL"]`` seconds,
and any worker of the site can check it (it is signed with ``SECRET_KEY``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.core import signing

from signaling.conf import conf
from signaling.protocol import PeerRole

SALT = "signaling.room-token"
MAX_TOKEN_LENGTH = 1024


@dataclass(frozen=True, slots=True)
class RoomGrant:
    """What a valid token says: which room, for which user (None: issued to an anonymous visitor), and in which
    role (None: as a participant)."""

    room_id: str
    user_id: int | str | None
    role: PeerRole | None = None


def issue_room_token(room_id: str, user_id: int | str | None, role: PeerRole | None = None) -> tuple[str, float]:
    """A token for ``room_id`` and the time (epoch seconds) it stops working. A token with a ``role`` (recorder,
    agent) joins in one of the room's extra seats and is announced with that role: only staff may be given one
    (the REST API checks; code of the site that calls this directly is trusted)."""
    payload: dict[str, object] = {"r": room_id, "u": user_id}
    if role is not None:
        payload["o"] = PeerRole(role).value
    token = signing.dumps(payload, salt=SALT, compress=False)
    return token, time.time() + conf.ROOM_TOKEN_TTL


def read_room_token(token: object) -> RoomGrant | None:
    """The grant of a token this site signed that has not expired; None for anything else."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    try:
        value = signing.loads(token, salt=SALT, max_age=conf.ROOM_TOKEN_TTL)
    except signing.BadSignature:  # tampered, or expired (SignatureExpired is a BadSignature)
        return None
    if not isinstance(value, dict) or not isinstance(value.get("r"), str):
        return None
    user_id = value.get("u")
    if user_id is not None and not isinstance(user_id, int | str):
        return None
    role = value.get("o")
    if role is not None and role not in PeerRole._value2member_map_:
        return None
    return RoomGrant(room_id=value["r"], user_id=user_id, role=PeerRole(role) if role is not None else None)
