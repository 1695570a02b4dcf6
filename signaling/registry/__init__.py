"""Room membership and message delivery, behind one small interface.

The consumer never holds a list of room members: it asks the registry to admit a peer (atomically against the
room's capacity), to remove it, and to deliver a frame to one member or to all others. The registry announces
arrivals and departures (``peer-joined``, ``peer-left``) itself, because where members live on several workers
the announcement and the change of membership must travel together. ``memory`` serves one worker; ``redis``
shares rooms between workers.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from signaling import metrics
from signaling.conf import conf
from signaling.events import PeerLeft, RoomDestroyed, get_dispatcher
from signaling.metadata import PeerState
from signaling.mounts import mount_of
from signaling.policy import get_room_resolver
from signaling.protocol import EVICTION_CLOSE_CODES
from signaling.registry.placement import InMemoryPlacement, SfuPlacement
from signaling.transport import SocketClosed

logger = logging.getLogger(__name__)


class PeerHandle(Protocol):
    """A peer connected to this worker, as a registry sees it."""

    @property
    def peer_id(self) -> str: ...

    @property
    def mount(self) -> int:
        """Which ``as_asgi()`` mount the peer came through (see ``signaling.mounts``)."""
        ...

    @property
    def client(self) -> str:
        """Who the peer's client is, as far as the server can tell (a digest of its address, user agent and user;
        '' when unknown): a parked seat of a full room goes to a new join of the same client only."""
        ...

    async def deliver(self, frame: str) -> None:
        """Write a frame to the peer's socket."""

    async def end(self, code: int) -> None:
        """Close the peer's socket from the server side."""

    async def evict(self, reason: str) -> None:
        """End the peer's stay for a moderator: tell its client why (``closed``), leave the room with ``reason``
        and close its socket."""

    async def replaced(self) -> None:
        """A resume took this peer's place (its client came back on another socket): close this socket (4014)
        without leaving the room, which the peer has not left."""


class RoomFull(Exception):
    """The room already holds ``max_peers`` peers; the joiner was not added."""

    def __init__(self, max_peers: int) -> None:
        super().__init__(max_peers)
        self.max_peers = max_peers


class RegistryUnavailable(Exception):
    """The shared registry cannot be reached right now; nothing was changed."""


@dataclass(frozen=True, slots=True)
class Resumed:
    """A resume that took its place back: the ids of the room's other members, whether the place was held by
    another worker (the peer's old socket, or its parked place, was elsewhere), and every member's state (the
    resumed peer's own included)."""

    peers: list[str]
    from_other_worker: bool
    states: dict[str, PeerState] = field(default_factory=dict)
    #: What the parked connection handed on (``park(handoff=)``): '' when none (a live socket held the place, or
    #: its worker died).
    handoff: str = ""


@dataclass(frozen=True, slots=True)
class Ended:
    """A resume of a peer whose stay a moderator ended (``reason``: kicked, or its room closed), while its socket
    was down or before the close reached its client: its client is to be told so, as it would have been on its
    socket, and not let in as a new peer."""

    reason: str


#: The reasons of an eviction that the evicted peer's resume is told of (``Ended``), for ``RESUME_GRACE`` after it.
ENDING_REASONS = frozenset(reason.value for reason in EVICTION_CLOSE_CODES)


@dataclass(frozen=True, slots=True)
class JoinResult:
    """A successful join: the ids of the peers already present, whether this join brought the room to life, and
    every member's state (metadata, media; the joiner's own included) as of the join."""

    peers: list[str]
    room_created: bool
    states: dict[str, PeerState] = field(default_factory=dict)


class RoomRegistry(abc.ABC):
    """Holds which peers are in which room and delivers frames between them."""

    @abc.abstractmethod
    async def join(self, room_id: str, peer: PeerHandle, max_peers: int, state: PeerState | None = None) -> JoinResult:
        """Add ``peer`` unless the room is full (raise :class:`RoomFull`), atomically against other joins, keep its
        ``state`` (metadata, media) with its membership, and announce ``peer-joined`` (with that state) to the
        others."""

    @abc.abstractmethod
    async def update(self, room_id: str, peer_id: str, state: PeerState, frame: str) -> bool:
        """Replace member ``peer_id``'s state and deliver ``frame`` (its ``peer-updated``) to every other member,
        atomically against joins: a peer that joins meanwhile finds the new state in its ``joined`` or gets the
        frame. False when the peer is not a member here (any more)."""

    @abc.abstractmethod
    async def leave(self, room_id: str, peer_id: str, reason: str) -> bool | None:
        """Remove the peer and announce ``peer-left`` with ``reason``.

        Return True when the room is left empty, False when others remain, and None when the peer was no longer
        a member (its departure was already announced, for instance after its worker was taken for dead).
        """

    @abc.abstractmethod
    async def relay(self, room_id: str, sender_id: str, to: str | None, frame: str) -> int:
        """Deliver ``frame`` to member ``to``, or to every member but the sender; return how many it was sent to.

        A ``to`` that is not a member of the room (or is the sender) delivers nothing.
        """

    @abc.abstractmethod
    async def park(
        self,
        room_id: str,
        peer_id: str,
        expected: PeerHandle,
        grace: float,
        still_speaking: bool = False,
        handoff: str = "",
    ) -> bool:
        """Keep member ``peer_id``'s place (its handle on this worker is ``expected``, whose socket dropped) for
        ``grace`` seconds, with no announcement, keeping what is sent to it (``SIGNALING["PARKED_BUFFER_*"]``).
        Unless a resume takes it back first, it then leaves with reason ``disconnect`` and its lifecycle events
        are sent; it leaves at once when what is kept would exceed the bounds. False when it is not a member
        here (any more). ``still_speaking``: its socket is still open (a drain parks before it closes), and what
        the client sends meanwhile is relayed as the parked peer: the registry keeps what it needs to route it.
        ``handoff``: what the connection that resumes the peer needs to take over from this one (an SFU peer's
        Janus session), opaque to the registry and kept with the parked place; ``Resumed.handoff`` gives it back."""

    @abc.abstractmethod
    async def resume(self, room_id: str, peer_id: str, new: PeerHandle) -> Resumed | Ended | None:
        """Give member ``peer_id``'s place to ``new``, wherever the place is (parked here or in the shared
        registry, held by a live socket on any worker, or by a worker that died), atomically against another
        resume of the same peer, with no announcement. What was kept for a parked peer is delivered to ``new``
        first, in order; a live socket that held the place is told ``replaced``. ``Ended`` when a moderator
        evicted the peer (while it was parked, or connected: its client may never have heard) within
        ``RESUME_GRACE`` of that; None when ``peer_id`` is not a member of the room (any more)."""

    @abc.abstractmethod
    async def release_parked_seat(self, room_id: str, role_peer: bool, client: str) -> bool:
        """A join of ``client`` found the room full: a parked member of that seat class (a peer with a role when
        ``role_peer``, else a participant) whose client was the same leaves now (reason ``disconnect``, its
        departure announced and recorded). A client that knows no resume (Agentuity's own) comes back from a
        dropped connection under a new id, and would otherwise be refused by the seat of its own ghost; a
        stranger still finds the seat held. False when no such member is parked (or ``client`` is '')."""

    @abc.abstractmethod
    async def evict(self, room_id: str, peer_id: str | None, reason: str) -> int:
        """End the stay of member ``peer_id`` (None: of every member), wherever its socket is; return how many
        members that concerned. ``reason`` is ``kicked`` or ``room-closed``; the room is also forgotten by every
        worker's room resolver, so that its next join reads the stored room again (closed, or with a new ban)."""

    @abc.abstractmethod
    def members(self, room_id: str) -> list[str]:
        """The ids of the room's members; callable from synchronous code."""

    @abc.abstractmethod
    def occupancy(self, room_ids: Iterable[str]) -> dict[str, int]:
        """Live peer count of each room (0 for rooms not live); callable from synchronous code."""

    @abc.abstractmethod
    def live_rooms(self) -> dict[str, int]:
        """Every live room with its peer count; callable from synchronous code."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise :class:`RegistryUnavailable` when the registry cannot serve joins now (readiness)."""

    @abc.abstractmethod
    def local_counts(self) -> tuple[int, int]:
        """(peers, rooms) with a socket on this worker, for the metrics; callable from any thread."""

    async def shutdown(self) -> None:  # noqa: B027 (optional: nothing to release by default)
        """This worker is stopping after a drain: give back what it holds in shared state."""

    #: Whether a parked peer outlives this process (another worker can resume it).
    parks_across_workers: bool = False

    def sfu_placement(self) -> SfuPlacement:
        """Which Janus node carries each SFU room, shared as the rooms are (``signaling.registry.placement``): here,
        held by this process, which is right for a registry of one process."""
        placement = self.__dict__.get("_sfu_placement")
        if placement is None:
            placement = self.__dict__["_sfu_placement"] = InMemoryPlacement(self.occupancy)
        return placement

    @abc.abstractmethod
    def parked_count(self) -> int:
        """Peers parked now (on this worker for the in-process registry, in Redis for the shared one)."""


def send_departure_events(room_id: str, peer_id: str, reason: str, mount: int, destroyed: bool, at: Any) -> None:
    """The lifecycle events of a departure that no consumer saw (a parked peer's expiry, a dead worker's peer),
    sent with the callbacks of the mount the peer came through."""
    endpoint = mount_of(mount)
    sender, callbacks = endpoint.consumer_class, endpoint.callbacks
    dispatcher = get_dispatcher()
    dispatcher.emit(PeerLeft(room_id=room_id, peer_id=peer_id, reason=reason, at=at), callbacks, sender)
    if destroyed:
        dispatcher.emit(RoomDestroyed(room_id=room_id, at=at), callbacks, sender)


def count_relayed_locally(count: int) -> None:
    metrics.RELAYED_LOCAL.inc(count)


async def evict_members(room_id: str, members: Mapping[str, PeerHandle], peer_id: str | None, reason: str) -> int:
    """Evict this worker's member ``peer_id`` of the room (None: all of them) and return how many that was; one
    that fails is logged and the others are still evicted."""
    # A kick may come with a ban, a close with a closed room: either way the room's stored rules changed.
    get_room_resolver().forget(room_id)
    targets = list(members.values()) if peer_id is None else [m for m in [members.get(peer_id)] if m is not None]
    for member in targets:
        metrics.EVICTIONS.labels(reason).inc()
        try:
            await member.evict(reason)
        except Exception:
            logger.exception("Evicting peer %s from room %s failed", member.peer_id, room_id)
    return len(targets)


async def deliver(peer: PeerHandle, frame: str) -> None:
    """Write ``frame`` to one peer; its failure never stops delivery to the others."""
    try:
        await peer.deliver(frame)
    except SocketClosed:
        # The socket closed an instant ago; its disconnect handler is on its way and will take it out.
        logger.debug("Peer %s closed before a frame reached it", peer.peer_id)
    except Exception:
        logger.exception("Delivery to peer %s failed", peer.peer_id)


_registry: RoomRegistry | None = None


IN_PROCESS_REGISTRY = "signaling.registry.memory.InMemoryRegistry"
REDIS_REGISTRY = "signaling.registry.redis.RedisRegistry"


def registry_path() -> str:
    """The registry class in use: ``SIGNALING["REGISTRY"]``, or else Redis when ``REDIS_URL`` is set."""
    if conf.REGISTRY:
        return conf.REGISTRY
    if conf.REDIS_URL:
        return REDIS_REGISTRY
    return IN_PROCESS_REGISTRY


def get_registry() -> RoomRegistry:
    """The process's registry, built on first use."""
    global _registry
    if _registry is None:
        registry_class: Any = import_string(registry_path())
        _registry = registry_class()
    return _registry


@receiver(setting_changed)
def _reset_registry(*, setting: str, **kwargs: Any) -> None:
    global _registry
    if setting == "SIGNALING":
        _registry = None
