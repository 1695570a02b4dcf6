"""Where SFU rooms are: which Janus node carries each live SFU room, and what every worker knows of the nodes (down,
draining), kept with the rooms in the registry so that every worker agrees (``RoomRegistry.sfu_placement()``).

A room is placed when its first peer joins, on the least loaded node that is up and not draining; it stays there
while that node is up (a draining node keeps its rooms until they are moved off it one by one). A node is *down*
for ``SFU_DOWN_HOLD`` seconds after a worker found it not answering: no room is placed on it meanwhile, and a room
whose node is down is placed anew by the first worker that asks where it is, so its members, wherever they are,
all follow it to the same node. Load is the peers of a node's rooms (a room counts one at least) over the node's
capacity; a node at its capacity takes no new room.

``memory`` holds it for one process (the in-process registry); ``signaling.registry.redis.placement`` in Redis.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class NodeLoad:
    """A node as the placement sees it: its rooms (ids) and their peers, whether it is marked down, draining."""

    name: str
    rooms: tuple[str, ...]
    peers: int
    down: bool
    draining: bool

    @property
    def state(self) -> str:
        return "down" if self.down else "draining" if self.draining else "up"


def least_loaded(
    candidates: Sequence[str], capacities: Mapping[str, int | None], peers: Mapping[str, int], avoid: str = ""
) -> str | None:
    """The candidate with the lowest load (its peers over its capacity), below its capacity; ties go to the first
    listed. None when every candidate is full (or there is none)."""
    best: str | None = None
    best_load = 0.0
    for name in candidates:
        if name == avoid:
            continue
        capacity, load = capacities.get(name), peers.get(name, 0)
        if capacity is not None and load >= capacity:
            continue
        share = load / capacity if capacity else float(load)
        if best is None or share < best_load:
            best, best_load = name, share
    return best


class SfuPlacement(abc.ABC):
    """Rooms' nodes and nodes' states, shared by the workers of one registry."""

    @abc.abstractmethod
    async def place(
        self, room_id: str, capacities: Mapping[str, int | None], avoid: str = "", despite_down: bool = False
    ) -> str | None:
        """The node of ``room_id``: where it is if that node is up (and not ``avoid``), else the least loaded node
        of ``capacities`` (every configured node, with its capacity) that is up and not draining, which it is then
        placed on, atomically against every other worker's ask. None when no node can take it. ``despite_down``:
        nodes marked down count as up (when every node is marked down, they are tried anyway)."""

    @abc.abstractmethod
    async def node_of(self, room_ids: Iterable[str]) -> dict[str, str]:
        """The node of each of these rooms that is placed (one round trip for them all)."""

    @abc.abstractmethod
    async def forget(self, room_id: str, node: str | None = None) -> None:
        """The room ended: it is on no node any more (``node``: only if it is still on that one)."""

    @abc.abstractmethod
    async def mark_down(self, node: str, hold: float) -> None:
        """``node`` did not answer: down for everyone for ``hold`` seconds."""

    @abc.abstractmethod
    async def mark_up(self, node: str) -> None:
        """``node`` answered: not down any more."""

    @abc.abstractmethod
    async def set_draining(self, node: str, draining: bool) -> None:
        """Drain ``node`` (no new room, its rooms moved off one by one), or stop draining it."""

    @abc.abstractmethod
    async def draining(self) -> set[str]:
        """The nodes being drained."""

    @abc.abstractmethod
    async def claim_drain_step(self, node: str, room_id: str, step: float) -> bool:
        """Whether this worker may move ``room_id`` off draining ``node`` now: one room per ``step`` seconds, across
        every worker."""

    @abc.abstractmethod
    def loads(self, nodes: Iterable[str]) -> dict[str, NodeLoad]:
        """Each node's rooms, peers and state; callable from synchronous code (the admin, metrics, commands)."""

    @abc.abstractmethod
    def set_draining_now(self, node: str, draining: bool) -> None:
        """``set_draining`` from synchronous code (the admin, ``manage.py sfu_drain``)."""


class InMemoryPlacement(SfuPlacement):
    """The placement of one process: the in-process registry's. ``occupancy`` gives the peers of rooms."""

    def __init__(self, occupancy: Callable[[Iterable[str]], dict[str, int]]) -> None:
        self.occupancy = occupancy
        self.placed: dict[str, str] = {}
        self.down_until: dict[str, float] = {}
        self.draining_nodes: set[str] = set()
        self.step_until: dict[str, float] = {}

    def is_down(self, node: str) -> bool:
        return self.down_until.get(node, 0.0) > time.monotonic()

    def peers_by_node(self) -> dict[str, int]:
        counts = self.occupancy(self.placed)
        peers: dict[str, int] = {}
        for room_id, node in self.placed.items():
            peers[node] = peers.get(node, 0) + max(1, counts.get(room_id, 0))
        return peers

    async def place(
        self, room_id: str, capacities: Mapping[str, int | None], avoid: str = "", despite_down: bool = False
    ) -> str | None:
        def down(node: str) -> bool:
            return not despite_down and self.is_down(node)

        current = self.placed.get(room_id)
        if current is not None and current != avoid and current in capacities and not down(current):
            return current
        usable = [name for name in capacities if not down(name) and name not in self.draining_nodes]
        chosen = least_loaded(usable, capacities, self.peers_by_node(), avoid)
        if chosen is not None:
            self.placed[room_id] = chosen
        return chosen

    async def node_of(self, room_ids: Iterable[str]) -> dict[str, str]:
        return {room_id: self.placed[room_id] for room_id in room_ids if room_id in self.placed}

    async def forget(self, room_id: str, node: str | None = None) -> None:
        if node is None or self.placed.get(room_id) == node:
            self.placed.pop(room_id, None)

    async def mark_down(self, node: str, hold: float) -> None:
        self.down_until[node] = time.monotonic() + hold

    async def mark_up(self, node: str) -> None:
        self.down_until.pop(node, None)

    async def set_draining(self, node: str, draining: bool) -> None:
        self.set_draining_now(node, draining)

    def set_draining_now(self, node: str, draining: bool) -> None:
        if draining:
            self.draining_nodes.add(node)
        else:
            self.draining_nodes.discard(node)

    async def draining(self) -> set[str]:
        return set(self.draining_nodes)

    async def claim_drain_step(self, node: str, room_id: str, step: float) -> bool:
        now = time.monotonic()
        if self.step_until.get(node, 0.0) > now:
            return False
        self.step_until[node] = now + step
        return True

    def loads(self, nodes: Iterable[str]) -> dict[str, NodeLoad]:
        # Read from the admin's and the metrics' threads while the event loop places rooms: one copy (made in one
        # step under the GIL) is what is read.
        placed = dict(self.placed)
        counts = self.occupancy(placed)
        found: dict[str, NodeLoad] = {}
        for name in nodes:
            rooms = tuple(sorted(room_id for room_id, node in placed.items() if node == name))
            peers = sum(counts.get(room_id, 0) for room_id in rooms)
            found[name] = NodeLoad(name, rooms, peers, self.is_down(name), name in self.draining_nodes)
        return found
