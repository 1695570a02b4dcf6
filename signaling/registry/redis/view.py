"""What a worker holds of the rooms its peers are in: a view of each room's members (where each one is), its own
members, and the stand-in that collects frames for a member while it is being parked."""

from __future__ import annotations

import time

from signaling.metadata import PeerState, decode_state
from signaling.registry import PeerHandle, deliver
from signaling.registry.redis.limits import TOMBSTONE_SECONDS


def pairs(flat: list[str]) -> dict[str, str]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


def states_of(flat: list[str]) -> dict[str, PeerState]:
    return {peer_id: decode_state(text) for peer_id, text in pairs(flat).items()}


def parse_member(value: str) -> tuple[str, int, int]:
    """``worker|version|mount`` -> (worker, version, mount)."""
    worker, version, mount = value.rsplit("|", 2)
    return worker, int(version), int(mount)


class RoomView:
    """What a worker knows of a room's members: per peer, the newest change it has seen (LWW by version)."""

    __slots__ = ("entries",)

    def __init__(self) -> None:
        # peer -> (version, worker or None once departed, when it departed)
        self.entries: dict[str, tuple[int, str | None, float]] = {}

    def apply(self, peer_id: str, version: int, worker: str | None) -> None:
        current = self.entries.get(peer_id)
        if current is None or current[0] < version:
            self.entries[peer_id] = (version, worker, time.monotonic() if worker is None else 0.0)
            if worker is None and len(self.entries) > 64:
                self._prune()

    def load(self, members: dict[str, tuple[str, int, int]], as_of: int) -> None:
        """Take a snapshot of the room as of version ``as_of``."""
        for peer_id, (worker, version, _) in members.items():
            self.apply(peer_id, version, worker)
        for peer_id, (known_version, known_worker, _) in list(self.entries.items()):
            if known_worker is not None and known_version < as_of and peer_id not in members:
                self.apply(peer_id, as_of, None)

    def worker_of(self, peer_id: str) -> str | None:
        entry = self.entries.get(peer_id)
        return entry[1] if entry is not None else None

    def members(self) -> dict[str, str]:
        return {peer_id: worker for peer_id, (_, worker, _) in self.entries.items() if worker is not None}

    def _prune(self) -> None:
        cutoff = time.monotonic() - TOMBSTONE_SECONDS
        for peer_id, (_, worker, since) in list(self.entries.items()):
            if worker is None and since < cutoff:
                del self.entries[peer_id]


class Member:
    """A peer on this worker, as its worker's registry keeps it."""

    __slots__ = ("handle", "room_id", "stash", "state", "version")

    def __init__(self, handle: PeerHandle, room_id: str, state: PeerState | None = None) -> None:
        self.handle = handle
        self.room_id = room_id
        # Its metadata and media state, to register again if Redis loses the registry.
        self.state = state
        # None while its join script runs; announcements meanwhile wait in `stash` with their versions.
        self.version: int | None = None
        self.stash: list[tuple[int, str]] = []


class Collector:
    """Stands in for a member's socket while the member is being parked: keeps what arrives, to be kept in Redis."""

    def __init__(self, mount: int, client: str) -> None:
        self.peer_id = ""
        self.mount = mount
        self.client = client
        self.frames: list[str] = []

    async def deliver(self, frame: str) -> None:
        self.frames.append(frame)

    async def end(self, code: int) -> None:
        pass

    async def evict(self, reason: str) -> None:
        pass

    async def replaced(self) -> None:
        pass


async def announce_to(member: Member, version: int, frame: str) -> None:
    """Deliver an arrival or departure unless the member's own join came later (its ``joined`` covers it)."""
    if member.version is None:
        member.stash.append((version, frame))
    elif version > member.version:
        await deliver(member.handle, frame)
