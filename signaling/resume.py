"""Resuming a peer after its socket dropped: ``joined.resume`` tokens, and the parked peer of the in-process registry.

A socket that drops without a close frame (1006), or that the client closes with 4000 ("reconnecting"), does not
leave its room at once: the registry *parks* its member (``RoomRegistry.park``), which keeps its place and what is
sent to it for ``SIGNALING["RESUME_GRACE"]`` seconds. A close the client chose otherwise (any other code, or none)
is a departure. A ``join`` carrying the ``resume`` token of that peer takes the place back under the same peer id
(``RoomRegistry.resume``), receives what was kept, and the room sees neither ``peer-left`` nor ``peer-joined``. The
token proves who the peer is, so it also takes the place of a member whose old socket is still open (a client that
moved networks: the newest connection wins, the old socket is closed with 4014) or whose worker died. After the
grace period a parked peer leaves as any other (reason ``disconnect``, or ``timeout`` when its worker died).

The in-process registry keeps a parked peer in this process (``ParkedPeer``); the Redis registry keeps it in Redis,
so that a resume reaching any worker finds it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from django.core import signing

from signaling.protocol import LeaveReason

SALT = "signaling.resume"
#: Defaults of SIGNALING["PARKED_BUFFER_FRAMES"] and ["PARKED_BUFFER_BYTES"].
MAX_PARKED_FRAMES = 256
MAX_PARKED_BYTES = 256 * 1024


def resume_token(room_id: str, peer_id: str) -> str:
    """The opaque ``joined.resume``: signed with SECRET_KEY, so any worker of the site can read it."""
    return signing.dumps([room_id, peer_id], salt=SALT, compress=False)


def read_resume_token(token: object) -> tuple[str, str] | None:
    """(room id, peer id) from a token this site signed; None for anything else."""
    if not isinstance(token, str) or len(token) > 512:
        return None
    try:
        value = signing.loads(token, salt=SALT)
    except signing.BadSignature:
        return None
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(part, str) for part in value)):
        return None
    return value[0], value[1]


class ParkedPeer:
    """A member of the in-process registry whose socket dropped: it keeps its place and what is sent to it, up to
    ``max_frames`` frames and ``max_bytes`` characters. A peer that would need more leaves at once (reason
    ``disconnect``): a resume that silently missed an offer or a candidate would be worse than a clean new join."""

    __slots__ = (
        "_evict",
        "_leaving",
        "_max_bytes",
        "_max_frames",
        "_size",
        "client",
        "frames",
        "handoff",
        "mount",
        "peer_id",
        "room_id",
    )

    def __init__(
        self,
        peer_id: str,
        room_id: str,
        mount: int,
        evict: Callable[[str], Awaitable[None]] | None = None,
        *,
        max_frames: int = MAX_PARKED_FRAMES,
        max_bytes: int = MAX_PARKED_BYTES,
        client: str = "",
        handoff: str = "",
    ) -> None:
        self.peer_id = peer_id
        self.client = client
        self.handoff = handoff
        self.room_id = room_id
        self.mount = mount
        self.frames: list[str] = []
        self._evict = evict
        self._size = 0
        self._max_frames = max_frames
        self._max_bytes = max_bytes
        self._leaving: asyncio.Task[None] | None = None

    async def deliver(self, frame: str) -> None:
        if self._leaving is not None:
            return
        self._size += len(frame)
        if len(self.frames) >= self._max_frames or self._size > self._max_bytes:
            self.frames.clear()
            # Not awaited here: this runs inside the sender's relay, and leaving announces to that same room.
            self._leaving = asyncio.get_running_loop().create_task(self.evict(LeaveReason.DISCONNECT.value))
            return
        self.frames.append(frame)

    async def end(self, code: int) -> None:
        """No socket to close."""

    async def evict(self, reason: str) -> None:
        """Leave at once with ``reason``: there is no client to tell."""
        if self._evict is not None:
            await self._evict(reason)

    async def replaced(self) -> None:
        """Resumed: nothing to close."""
