"""Live rooms, for the rest of the site: what the signaling endpoint knows now, and what may be done to its rooms.

This is the one way in for the ``rooms`` and ``frontend`` apps and for your own code; none of them reaches into
the registry. Every function works wherever the members' sockets are (this worker or another, with the Redis
registry) and raises :class:`LiveRoomsUnavailable` when the shared registry cannot be reached.

Moderation: a member whose stay is ended is told why (``closed``), its room hears ``peer-left`` with the reason,
and its socket is closed (4010 kicked, 4011 room closed). Closing a room here ends the stay of its members;
refusing the joins that follow is the job of the room's stored rules (``rooms``: ``Room.is_open``), which every
worker re-reads at once. A kick makes every worker re-read them too (a ban may have come with it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from signaling.conf import conf
from signaling.mounts import mounted_max_peers
from signaling.policy import Topology
from signaling.protocol import LeaveReason
from signaling.registry import RegistryUnavailable, get_registry
from signaling.registry.placement import NodeLoad
from signaling.sfu.nodes import configured_nodes
from signaling.sfu.service import sfu_capacity

#: Raised when the shared registry cannot be reached: live counts, members and moderation are unavailable.
LiveRoomsUnavailable = RegistryUnavailable

__all__ = [
    "LiveRoomsUnavailable",
    "SfuNodeStatus",
    "close_room",
    "default_capacity",
    "drain_sfu_node",
    "kick",
    "live_rooms",
    "occupancy",
    "room_members",
    "sfu_node_loads",
    "sfu_nodes",
    "sfu_nodes_configured",
]


@dataclass(frozen=True, slots=True)
class SfuNodeStatus:
    """A Janus node of SFU rooms as every worker sees it: ``state`` is up, down (it stopped answering a worker: no
    room goes there until it answers again) or draining (no new room; its rooms are moved off one by one)."""

    name: str
    url: str
    capacity: int | None
    state: str
    #: The ids of the live rooms on it, and their peers.
    rooms: tuple[str, ...]
    peers: int


def occupancy(room_ids: Iterable[str]) -> dict[str, int]:
    """Peers in each of these rooms now (0 for a room nobody is in); one registry round trip for them all."""
    return get_registry().occupancy(room_ids)


def live_rooms() -> dict[str, int]:
    """Every room with peers in it now, with their count."""
    return get_registry().live_rooms()


def room_members(room_id: str) -> list[str]:
    """The peer ids in a room now."""
    return get_registry().members(room_id)


async def kick(room_id: str, peer_id: str) -> bool:
    """End one peer's stay in a room; False when it is not a member (any more)."""
    return await get_registry().evict(room_id, peer_id, LeaveReason.KICKED) > 0


async def close_room(room_id: str) -> int:
    """End the stay of every member of a room; returns how many there were."""
    return await get_registry().evict(room_id, None, LeaveReason.ROOM_CLOSED)


def capacity_of(max_peers: int | None, topology: str) -> tuple[int, str]:
    """The capacity joins of a stored room meet, and where it comes from: its ``max_peers``, else the default of
    its topology (an SFU room's is ``SIGNALING["SFU_MAX_PEERS"]``, which also bounds its own)."""
    if topology == Topology.SFU:
        if max_peers and max_peers <= conf.SFU_MAX_PEERS:
            return max_peers, "this room's max peers"
        return sfu_capacity(max_peers), "SIGNALING['SFU_MAX_PEERS']"
    if max_peers:
        return max_peers, "this room's max peers"
    value, source = default_capacity()
    return value, f"default: {source}"


def default_capacity() -> tuple[int, str]:
    """How many peers a room without a capacity of its own admits, and where that number comes from: the
    endpoint's ``as_asgi(max_peers=...)`` when every mount sets the same one, else ``SIGNALING["MAX_PEERS"]``."""
    mounted = mounted_max_peers()
    if len(mounted) == 1 and None not in mounted:
        value = next(iter(mounted))
        assert value is not None
        return value, "the endpoint's max_peers"
    return conf.MAX_PEERS, "SIGNALING['MAX_PEERS']"


def sfu_nodes_configured() -> bool:
    """Whether SFU rooms go through Janus nodes here (``SFU_NODES`` or ``SFU_JANUS_URL``)."""
    return bool(configured_nodes())


def sfu_node_loads() -> dict[str, NodeLoad]:
    """Each configured SFU node's rooms, peers and state ({} where no SFU is configured)."""
    nodes = configured_nodes()
    return get_registry().sfu_placement().loads(nodes) if nodes else {}


def sfu_nodes() -> list[SfuNodeStatus]:
    """The configured SFU nodes, in the order of ``SIGNALING["SFU_NODES"]``, with their state and live rooms."""
    loads = sfu_node_loads()
    return [
        SfuNodeStatus(name, node.url, node.capacity, loads[name].state, loads[name].rooms, loads[name].peers)
        for name, node in configured_nodes().items()
    ]


def drain_sfu_node(name: str, draining: bool = True) -> None:
    """Drain SFU node ``name``: no new room goes there, and its live rooms move to other nodes one by one (their
    peers follow, under the same ids); ``draining=False`` takes it back into service. ``KeyError`` for a node
    that is not configured."""
    if name not in configured_nodes():
        raise KeyError(name)
    get_registry().sfu_placement().set_draining_now(name, draining)
