"""Moderation of live rooms, for the admin, the REST API and your own code: wherever a member's socket is (on
this worker or another), it is told why (``closed``), its room hears ``peer-left`` with the reason, and its
socket is closed (4010 kicked, 4011 room closed).

Closing a room here ends the stay of its members; refusing the joins that follow is the job of the room's stored
rules (``rooms``: ``Room.is_open``), which every worker re-reads at once.
"""

from __future__ import annotations

from signaling.conf import conf
from signaling.events import endpoint_max_peers
from signaling.protocol import LeaveReason
from signaling.registry import get_registry


async def kick(room_id: str, peer_id: str) -> bool:
    """End one peer's stay in a room; False when it is not a member (any more)."""
    return await get_registry().evict(room_id, peer_id, LeaveReason.KICKED) > 0


async def close_room(room_id: str) -> int:
    """End the stay of every member of a room; returns how many there were."""
    return await get_registry().evict(room_id, None, LeaveReason.ROOM_CLOSED)


def room_members(room_id: str) -> list[str]:
    """The peer ids in a room now (raises ``RegistryUnavailable`` when the registry cannot be reached)."""
    return get_registry().members(room_id)


def default_capacity() -> tuple[int, str]:
    """How many peers a room without a capacity of its own admits, and where that number comes from: the
    endpoint's ``as_asgi(max_peers=...)`` when every mount sets the same one, else ``SIGNALING["MAX_PEERS"]``."""
    mounted = endpoint_max_peers()
    if len(mounted) == 1 and None not in mounted:
        value = next(iter(mounted))
        assert value is not None
        return value, "the endpoint's max_peers"
    return conf.MAX_PEERS, "SIGNALING['MAX_PEERS']"
