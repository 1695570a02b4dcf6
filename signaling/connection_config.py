"""What a signaling connection uses of its process, bound once as it connects: the worker's services and the
settings a connection reads once (a change of settings reaches the connections that open after it).

One slotted object rather than a dozen attributes of the connection: CPython keeps an instance's attributes in a
table shared by all instances of its class only while they are fewer than 30 (3.11); past that each connection's
attributes cost a dictionary of their own, 1.6 KB per idle socket (``python -m bench.profile``)."""

from __future__ import annotations

from dataclasses import dataclass

from signaling.admission import Admission, get_admission
from signaling.conf import conf
from signaling.events import EventDispatcher, get_dispatcher
from signaling.policy import RoomResolver, get_room_resolver
from signaling.registry import RoomRegistry, get_registry


@dataclass(frozen=True, slots=True)
class ConnectionConfig:
    admission: Admission
    registry: RoomRegistry
    room_resolver: RoomResolver
    dispatcher: EventDispatcher
    #: Peers a room admits unless a stored room says otherwise: the mount's ``max_peers``, else ``MAX_PEERS``.
    default_max_peers: int
    allow_ad_hoc_rooms: bool
    max_message_bytes: int
    max_metadata_bytes: int
    max_outbound_bytes: int
    resume_grace: float

    @classmethod
    def now(cls, max_peers: int | None) -> ConnectionConfig:
        """The services and settings as they are now, for a connection of a mount with ``max_peers``."""
        return cls(
            admission=get_admission(),
            registry=get_registry(),
            room_resolver=get_room_resolver(),
            dispatcher=get_dispatcher(),
            default_max_peers=max_peers if max_peers is not None else conf.MAX_PEERS,
            allow_ad_hoc_rooms=conf.ALLOW_AD_HOC_ROOMS,
            max_message_bytes=conf.MAX_MESSAGE_BYTES,
            max_metadata_bytes=conf.MAX_METADATA_BYTES,
            max_outbound_bytes=conf.OUTBOUND_BUFFER_BYTES,
            resume_grace=conf.RESUME_GRACE,
        )
