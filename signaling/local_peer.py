"""A socket's membership of a room (``LocalPeer``): what the registry delivers this worker's peers' frames to."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from signaling.protocol import LeaveReason


class LocalPeer:
    """This connection as a member of a room: what the registry delivers frames to.

    Frames delivered before the ``joined`` reply is out wait, so that the joiner always hears ``joined`` first;
    they count against the socket's outbound limit like frames in its send buffer.
    """

    __slots__ = (
        "_end",
        "_evict",
        "_overflow",
        "_pending",
        "_pending_bytes",
        "_pending_limit",
        "_replaced",
        "_send",
        "client",
        "max_peers",
        "mount",
        "peer_id",
        "room_id",
    )

    def __init__(
        self,
        peer_id: str,
        room_id: str,
        mount: int,
        max_peers: int,
        send: Callable[[str], Awaitable[None]],
        end: Callable[[int], Awaitable[None]],
        evict: Callable[[LeaveReason], Awaitable[None]],
        replaced: Callable[[], Awaitable[None]],
        overflow: Callable[[], None],
        pending_limit: int,
        client: str = "",
    ) -> None:
        self.peer_id = peer_id
        self.client = client
        self.room_id = room_id
        self.mount = mount
        self.max_peers = max_peers
        self._send = send
        self._end = end
        self._evict = evict
        self._replaced = replaced
        self._overflow = overflow
        self._pending: list[str] | None = []
        self._pending_bytes = 0
        self._pending_limit = pending_limit

    async def deliver(self, frame: str) -> None:
        if self._pending is not None:
            self._pending_bytes += len(frame)
            if self._pending_bytes > self._pending_limit:
                self._pending.clear()
                self._overflow()
                return
            self._pending.append(frame)
            return
        await self._send(frame)

    async def open(self) -> None:
        """Send what waited, then deliver directly."""
        pending = self._pending
        # Deliveries that arrive while this loop awaits append to the same list, so order is kept.
        while pending:
            await self._send(pending.pop(0))
        self._pending = None

    async def end(self, code: int) -> None:
        await self._end(code)

    async def evict(self, reason: str) -> None:
        await self._evict(LeaveReason(reason))

    async def replaced(self) -> None:
        await self._replaced()
