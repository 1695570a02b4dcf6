"""The embedded registry: rooms in this process's memory, for one worker."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime

from django.utils import timezone

from signaling.background import in_background
from signaling.conf import conf
from signaling.metadata import PeerState
from signaling.protocol import ROLE_PEER_PREFIX, LeaveReason, peer_joined_frame, peer_left_frame
from signaling.registry import (
    ENDING_REASONS,
    Ended,
    JoinResult,
    PeerHandle,
    Resumed,
    RoomFull,
    RoomRegistry,
    count_relayed_locally,
    deliver,
    evict_members,
    send_departure_events,
)
from signaling.resume import ParkedPeer


def is_role_peer(peer_id: str) -> bool:
    return peer_id.startswith(ROLE_PEER_PREFIX)


class InMemoryRegistry(RoomRegistry):
    """Rooms held in a dict; every peer of a room is on this worker, so delivery is a direct socket write."""

    def __init__(self) -> None:
        self._rooms: dict[str, dict[str, PeerHandle]] = {}
        # room -> peer -> state (metadata, media), for the members that have one.
        self._states: dict[str, dict[str, PeerState]] = {}
        # (room, peer) -> (why, until when on the loop's clock) for peers a moderator evicted: their resume is told
        # why (``Ended``). One entry per such eviction, gone after the grace.
        self._ended: dict[tuple[str, str], tuple[str, float]] = {}

    async def join(self, room_id: str, peer: PeerHandle, max_peers: int, state: PeerState | None = None) -> JoinResult:
        # No await between the capacity check and the insert: on one event loop that makes the join atomic.
        members = self._rooms.get(room_id)
        if members is None:
            members = self._rooms[room_id] = {}
        elif sum(1 for member in members if is_role_peer(member) == is_role_peer(peer.peer_id)) >= max_peers:
            # Participants count against the room's capacity, peers with a role against its extra seats.
            raise RoomFull(max_peers)
        peers = list(members)
        members[peer.peer_id] = peer
        states = self._states.setdefault(room_id, {})
        if state:
            states[peer.peer_id] = state
        snapshot = dict(states)
        await self.relay(room_id, peer.peer_id, None, peer_joined_frame(peer.peer_id, state))
        return JoinResult(peers=peers, room_created=not peers, states=snapshot)

    async def update(self, room_id: str, peer_id: str, state: PeerState, frame: str) -> bool:
        members = self._rooms.get(room_id)
        if members is None or peer_id not in members:
            return False
        self._states.setdefault(room_id, {})[peer_id] = state
        await self.relay(room_id, peer_id, None, frame)
        return True

    async def leave(self, room_id: str, peer_id: str, reason: str) -> bool | None:
        members = self._rooms.get(room_id)
        if members is None or members.pop(peer_id, None) is None:
            return None
        if reason in ENDING_REASONS:
            # A moderator ended the peer's stay, parked or connected (should the close never reach its client): the
            # resume it then tries is told so, and not let in as a new peer.
            self._remember_ended(room_id, peer_id, reason)
        self._states.get(room_id, {}).pop(peer_id, None)
        if not members:
            del self._rooms[room_id]
            self._states.pop(room_id, None)
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

    async def park(
        self,
        room_id: str,
        peer_id: str,
        expected: PeerHandle,
        grace: float,
        still_speaking: bool = False,
        handoff: str = "",
    ) -> bool:
        # A parked peer stays in the room's members here: what it still says is relayed whatever still_speaking.
        members = self._rooms.get(room_id)
        if members is None or members.get(peer_id) is not expected:
            return False
        dropped_at = timezone.now()
        parked = ParkedPeer(
            peer_id,
            room_id,
            expected.mount,
            evict=lambda reason: self._expire(parked, reason, dropped_at),
            max_frames=conf.PARKED_BUFFER_FRAMES,
            max_bytes=conf.PARKED_BUFFER_BYTES,
            client=expected.client,
            handoff=handoff,
        )
        members[peer_id] = parked
        loop = asyncio.get_running_loop()
        loop.call_later(grace, lambda: in_background(self._expire(parked, LeaveReason.DISCONNECT.value, dropped_at)))
        return True

    async def _expire(self, parked: ParkedPeer, reason: str, dropped_at: datetime) -> None:
        """Nobody resumed within the grace period (or a moderator evicted the parked peer, or it overflowed):
        it leaves, dated when its socket dropped (a moderator's eviction is kept for its resume: ``leave``)."""
        members = self._rooms.get(parked.room_id)
        if members is None or members.get(parked.peer_id) is not parked:
            return  # resumed, or gone already
        destroyed = await self.leave(parked.room_id, parked.peer_id, reason)
        if destroyed is not None:
            send_departure_events(parked.room_id, parked.peer_id, reason, parked.mount, destroyed, dropped_at)

    def _remember_ended(self, room_id: str, peer_id: str, reason: str) -> None:
        """Why a moderator ended the peer's stay, for its resume within ``RESUME_GRACE`` (as the Redis registry)."""
        now = asyncio.get_running_loop().time()
        for key, (_, until) in list(self._ended.items()):
            if until <= now:
                del self._ended[key]
        self._ended[(room_id, peer_id)] = (reason, now + conf.RESUME_GRACE)

    async def resume(self, room_id: str, peer_id: str, new: PeerHandle) -> Resumed | Ended | None:
        members = self._rooms.get(room_id)
        current = members.get(peer_id) if members is not None else None
        if members is None or current is None:
            ended = self._ended.get((room_id, peer_id))
            if ended is not None and ended[1] > asyncio.get_running_loop().time():
                return Ended(ended[0])
            return None
        # No await between taking the kept frames and putting ``new`` in place: nothing can slip in between.
        handoff = current.handoff if isinstance(current, ParkedPeer) else ""
        if isinstance(current, ParkedPeer):
            for frame in current.frames:
                await new.deliver(frame)  # still waiting for its `joined`: appended, never awaited
            current.frames.clear()
        members[peer_id] = new
        if not isinstance(current, ParkedPeer):
            await current.replaced()
        return Resumed(
            peers=[other for other in members if other != peer_id],
            from_other_worker=False,
            states=dict(self._states.get(room_id, {})),
            handoff=handoff,
        )

    async def release_parked_seat(self, room_id: str, role_peer: bool, client: str) -> bool:
        parked = next(
            (
                member
                for peer_id, member in self._rooms.get(room_id, {}).items()
                if isinstance(member, ParkedPeer)
                and is_role_peer(peer_id) == role_peer
                and client
                and member.client == client
            ),
            None,
        )
        if parked is None:
            return False
        await parked.evict(LeaveReason.DISCONNECT.value)
        return True

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

    def parked_count(self) -> int:
        return sum(isinstance(peer, ParkedPeer) for members in list(self._rooms.values()) for peer in members.values())
