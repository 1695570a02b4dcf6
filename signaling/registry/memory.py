"""The embedded registry: rooms in this process's memory, for one worker."""

from __future__ import annotations

from collections.abc import Iterable

from signaling.protocol import peer_joined_frame, peer_left_frame
from signaling.registry import (
    JoinResult,
    PeerHandle,
    RoomFull,
    RoomRegistry,
    count_relayed_locally,
    deliver,
    evict_members,
)


class InMemoryRegistry(RoomRegistry):
    """Rooms held in a dict; every peer of a room is on this worker, so delivery is a direct socket write."""

    def __init__(self) -> None:
        self._rooms: dict[str, dict[str, PeerHandle]] = {}

    async def join(self, room_id: str, peer: PeerHandle, max_peers: int) -> JoinResult:
        # No await between the capacity check and the insert: on one event loop that makes the join atomic.
        members = self._rooms.get(room_id)
        if members is None:
            members = self._rooms[room_id] = {}
        elif len(members) >= max_peers:
            raise RoomFull(max_peers)
        peers = list(members)
        members[peer.peer_id] = peer
        await self.relay(room_id, peer.peer_id, None, peer_joined_frame(peer.peer_id))
        return JoinResult(peers=peers, room_created=not peers)

    async def leave(self, room_id: str, peer_id: str, reason: str) -> bool | None:
        members = self._rooms.get(room_id)
        if members is None or members.pop(peer_id, None) is None:
            return None
        if not members:
            del self._rooms[room_id]
            return True
        await self.relay(room_id, peer_id, None, peer_left_frame(peer_id, reason))
        return False

    async def relay(self, room_id: str, sender_id: str, to: str | None, frame: str) -> int:
        members = self._rooms.get(room_id)
        if members is None:
            return 0
        if to is not None:
            target = members.get(to)
            if target is None or to == sender_id:
                return 0
            await deliver(target, frame)
            count_relayed_locally(1)
            return 1
        # A snapshot: a delivery may yield, and the room may change meanwhile.
        targets = [peer for peer_id, peer in members.items() if peer_id != sender_id]
        for target in targets:
            await deliver(target, frame)
        count_relayed_locally(len(targets))
        return len(targets)

    async def swap(self, room_id: str, peer_id: str, expected: PeerHandle, new: PeerHandle) -> list[str] | None:
        members = self._rooms.get(room_id)
        if members is None or members.get(peer_id) is not expected:
            return None
        members[peer_id] = new
        return [other for other in members if other != peer_id]

    async def evict(self, room_id: str, peer_id: str | None, reason: str) -> int:
        return await evict_members(room_id, self._rooms.get(room_id, {}), peer_id, reason)

    def members(self, room_id: str) -> list[str]:
        return list(self._rooms.get(room_id, ()))

    def occupancy(self, room_ids: Iterable[str]) -> dict[str, int]:
        rooms = self._rooms
        return {room_id: len(rooms.get(room_id, ())) for room_id in room_ids}

    def live_rooms(self) -> dict[str, int]:
        return {room_id: len(members) for room_id, members in list(self._rooms.items())}

    async def ping(self) -> None:
        """Always serving: it is this process's memory."""

    def local_counts(self) -> tuple[int, int]:
        rooms = list(self._rooms.values())
        return sum(len(members) for members in rooms), len(rooms)
