"""The signaling endpoint: one WebSocket per browser tab, speaking ``docs/protocol.md``.

Mount it in one line, as Agentuity's server mounts ``webrtc()``::

    path("api/call/signal", SignalingConsumer.as_asgi(max_peers=4, callbacks={"on_peer_join": joined}))
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from collections.abc import Awaitable, Mapping
from datetime import UTC, datetime
from typing import Any, assert_never
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.utils import timezone

from signaling import connection_test, drain, metrics, resume, signals
from signaling.admission import get_admission
from signaling.background import in_background
from signaling.client_frames import (
    ClientFrame,
    ConnectionReport,
    ConnectionTestRequest,
    Data,
    Ice,
    InvalidJoin,
    Join,
    Leave,
    Path,
    Ping,
    Sdp,
    SfuIce,
    SfuMoveTaken,
    SfuPublish,
    SfuQuality,
    SfuRestart,
    SfuSubscribed,
    Update,
    parse_client_frame,
)
from signaling.conf import conf
from signaling.connection_config import ConnectionConfig
from signaling.events import (
    Callback,
    Callbacks,
    ConnectionReported,
    ErrorRaised,
    Event,
    JoinRejected,
    MessageRelayed,
    PeerJoined,
    PeerLeft,
    PeerPathReported,
    PeerUpdated,
    RoomCreated,
    RoomDestroyed,
)
from signaling.ice import ice_servers_for, turn_refresh_interval
from signaling.local_peer import LocalPeer
from signaling.metadata import (
    PeerState,
    display_name,
    merged_state,
    peer_updated_frame,
    states_fields,
    vouched_metadata,
)
from signaling.mounts import register_mount
from signaling.origin import allowed_hosts, is_origin_allowed
from signaling.policy import Access, RoomPolicy, Topology
from signaling.protocol import (
    EVICTION_CLOSE_CODES,
    NOT_IN_A_ROOM,
    PARKING_CLOSE_CODES,
    ROLE_PEER_PREFIX,
    CloseCode,
    ErrorCode,
    JoinedFrame,
    LeaveReason,
    PeerRole,
    PongFrame,
    RelayedDataFrame,
    RelayedIceFrame,
    RelayedSdpFrame,
    SfuMovedFrame,
    SfuPublishedFrame,
    SignalingError,
    closed_frame,
    encode,
    ice_servers_frame,
    role_of,
    role_peer_id,
    room_full_message,
    takes_extra_seat,
)
from signaling.ratelimit import TokenBucket
from signaling.registry import Ended, JoinResult, RegistryUnavailable, RoomFull
from signaling.sfu.janus import JanusError, JanusUnavailable
from signaling.sfu.member import SfuMember
from signaling.sfu.service import SfuService, get_sfu, sfu_capacity
from signaling.tokens import RoomGrant, read_room_token
from signaling.transport import SocketClosed, socket_control, stop_accepting

logger = logging.getLogger(__name__)

USER_AGENT_MAX_LENGTH = 512
UNAVAILABLE = "Signaling is temporarily unavailable"
SFU_UNSUPPORTED = (
    "This room's media goes through the server (an SFU room): this client cannot take part in one (it did not name "
    "the sfu capability); it can join mesh rooms"
)
SFU_UNAVAILABLE = "This room's media goes through the server (SFU), which is not available now; try again later"
NOT_IN_AN_SFU_ROOM = "Not in an SFU room"
VIEWER_CANNOT_PUBLISH = "A viewer cannot publish in this room"
VIEWER_NEEDS_SFU = "A viewer's token joins SFU rooms only: in a mesh room nothing keeps a viewer from sending its media"
SFU_LOST = "The server's connection to the SFU (Janus) was lost; this call reconnects once it is back"
# Seconds a slow reader's socket gets to take its close frame before its connection is dropped.
SLOW_READER_CLOSE_SECONDS = 1.0


def new_peer_id(role: PeerRole | None = None) -> str:
    """An unguessable peer id in the shape of Agentuity's: ``peer-`` and 96 random bits (``peer.<role>.`` and 96 random
    bits for a peer with a role)."""
    if role is not None:
        return role_peer_id(role, secrets.token_urlsafe(12))
    return "peer-" + secrets.token_urlsafe(12)


def positive_max_peers(value: object) -> int:
    """The consumer's ``max_peers`` option, refused unless a positive integer."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"max_peers must be a positive integer, not {value!r}")
    return value


def banned_message(until: datetime) -> str:
    return f"You are banned from this room until {until.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def _vouched_metadata_of_user_id(user_id: Any) -> dict[str, Any]:
    """``vouched_metadata`` for a room token's user (runs in a thread)."""
    from django.contrib.auth import get_user_model

    user = get_user_model()._default_manager.filter(pk=user_id).first()
    return vouched_metadata(user) if user is not None else {}


class SignalingConsumer(AsyncWebsocketConsumer):
    """Rooms, SDP/ICE relay and lifecycle events for one client socket."""

    #: Peers an ad-hoc room admits (a stored room may say otherwise); None means ``SIGNALING["MAX_PEERS"]``.
    max_peers: int | None = None
    #: Agentuity's server callbacks.
    callbacks: Callbacks = Callbacks()
    #: Which ``as_asgi()`` mount this is (set by ``as_asgi``; see ``signaling.mounts``).
    mount: int = -1

    # Bound by connect(): the process's services, and the settings a connection reads once (signaling.conf).
    config: ConnectionConfig
    # State that most connections never change, on the class until it does: an idle connection's attributes stay
    # below CPython's limit for a table shared by all instances (signaling.connection_config).
    #: A moderator's eviction that came while a join was under way, carried out as soon as the join is done.
    eviction_pending: LeaveReason | None = None
    #: Whether the next `joined` resumes the Janus session the client's SFU connections are with.
    sfu_session_kept: bool = False
    #: Whether the client follows its room to another SFU node (it said `sfu-move` in its join's capabilities).
    follows_sfu_moves: bool = False
    #: `sfu-moved` frames the client has not acknowledged yet: until it has, its SFU frames are of its old
    #: connections (sent before it knew), and are dropped.
    sfu_moves_unacknowledged: int = 0
    #: The peer a drain parked: until the client has the 1012 close, what it still sends is relayed as that peer.
    draining_peer: LocalPeer | None = None
    #: Sends this socket's peer fresh TURN credentials while it is in a room (with TURN configured).
    turn_refresh: asyncio.Future[None] | None = None
    #: Connection reports this socket sent (at most connection_test.MAX_REPORTS_PER_SOCKET).
    reports_sent: int = 0
    #: Set once the connection has given back all it held; and what a drain waits on for that, made only then.
    released: bool = False
    _finished: asyncio.Future[None] | None = None
    #: Frames per second (and the refusals it tolerates before closing with 4008).
    rate: TokenBucket
    rate_tolerance: TokenBucket

    def __init__(
        self,
        *,
        max_peers: int | None = None,
        callbacks: Callbacks | Mapping[str, Callback | None] | None = None,
        mount: int | None = None,
    ) -> None:
        super().__init__()
        if mount is not None:
            self.mount = mount
        if max_peers is not None:
            self.max_peers = positive_max_peers(max_peers)
        if callbacks is not None:
            self.callbacks = Callbacks.coerce(callbacks)
        # All the state of one connection is declared here and in the class's annotations above: what connect()
        # binds, on the connection's event loop, once the socket passed the origin check and admission, and the
        # state that most connections never change, whose default is on the class.
        # -- the handshake: who this client is as far as the server can tell
        self.client_address: str | None = None
        self.session_user_id: Any = None
        self.user_agent = ""
        # The socket URL's ?token= and ?room= (a join may bring its own token; its room must equal ?room=).
        self.url_token: str | None = None
        self.url_room: str | None = None
        # -- the room
        self.peer: LocalPeer | None = None
        # Whether a join is under way (its place in the registry may be taken before it is this socket's peer;
        # a moderator's eviction that comes meanwhile waits in eviction_pending).
        self.joining = False
        # This peer's place in the SFU, in a room whose media goes through it.
        self.sfu_member: SfuMember | None = None
        # Set once this server decided to close the socket (it then ignores what the client still sends).
        self.closing = False
        # Set once the socket cannot take frames any more: sending to it is then a quiet no-op.
        self.socket_gone = False
        # Whether this socket was counted in by the worker's admission (and must be counted out).
        self.admitted = False
        # This peer's metadata and media state, and the metadata fields the server vouches for (USER_METADATA).
        self.peer_state: PeerState = {}
        self.vouched: dict[str, Any] = {}
        # The media path last reported (``path``) per remote peer, since this socket's last join: a report that
        # changes nothing is not logged again. At most one entry per seat of the room.
        self.paths: dict[str, tuple[bool, str]] = {}

    @classmethod
    def as_asgi(cls, **initkwargs: Any) -> Any:
        if "callbacks" in initkwargs:
            initkwargs["callbacks"] = Callbacks.coerce(initkwargs["callbacks"])
        # Build one instance now, so that bad options fail when the URLconf loads, not on the first call. With a
        # mount, as every connection's instance: CPython shares one table of attribute names among a class's
        # instances that set them in the same order, and the first instance sets that order.
        instance = cls(**initkwargs, mount=-1)
        initkwargs["mount"] = register_mount(cls, instance.callbacks, instance.max_peers)
        return super().as_asgi(**initkwargs)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        # Reaching peers on other workers is the registry's job, so a connection needs no channel of its own;
        # and handlers reach the database only through their own sync_to_async calls, so the per-message
        # close_old_connections() thread hop of AsyncConsumer.dispatch is left out of the relay path.
        self.scope = scope
        self.channel_layer = None
        self.base_send = send
        self.loop = asyncio.get_running_loop()
        self.socket = socket_control(send)
        if self.socket is not None:
            # Served by daphne: on SIGTERM, drain (park every peer, close 1012) before the server stops.
            drain.install_sigterm_handler(lambda: conf.DRAIN_SECONDS, stop_accepting)
        try:
            while True:
                message = await receive()
                await getattr(self, message["type"].replace(".", "_"))(message)
        except StopConsumer:
            pass
        except Exception:
            # A defect, not a client's doing: every client input is answered inside receive(). Close the socket
            # ourselves (returning normally would leave it open with nobody reading it).
            logger.exception("Signaling connection failed; closing it")
            await self.end(1011)
        finally:
            # However the connection ends (a handler's failure, the server cancelling this task on shutdown or
            # after its close timeout), its peer leaves the room and the worker counts the socket out. Shielded:
            # a second cancellation must not cut the leave in half.
            await asyncio.shield(in_background(self.release()))

    async def release(self) -> None:
        """Give back what this connection holds; safe to run more than once."""
        if self.admitted:
            self.admitted = False
            get_admission().close(self.client_address)
        if self.peer is not None:
            try:
                await self.leave_room(LeaveReason.DISCONNECT)
            except Exception:
                logger.exception("Leaving the room of a closed socket failed")
        if self.sfu_member is not None:
            # A peer whose place was taken elsewhere (replaced) still had its Janus session here.
            await self.leave_sfu()
        self.released = True
        if self._finished is not None and not self._finished.done():
            self._finished.set_result(None)

    async def finished(self) -> None:
        """Wait until the connection has given back all it held."""
        if self.released:
            return
        if self._finished is None:
            self._finished = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._finished)

    @property
    def is_open(self) -> bool:
        return not self.socket_gone and not self.released

    async def drain(self) -> None:
        """This worker is stopping: park this peer where another worker can resume it, then close the socket
        with 1012 (service restart) so that the client comes back at once."""
        if self.socket_gone:
            return
        # Not `closing` yet: what the client sends while its peer is being parked is still relayed (as the parked
        # peer, once parked); `end` below sets it.
        peer = self.peer
        if peer is not None and self.config.resume_grace > 0 and self.config.registry.parks_across_workers:
            try:
                if await self.park(still_speaking=True):
                    self.draining_peer = peer
                else:
                    logger.warning("Draining: could not park peer %s; it leaves", peer.peer_id)
            except RegistryUnavailable:
                logger.warning("Draining: could not park peer %s; it leaves", peer.peer_id)
        await self.end(CloseCode.SERVICE_RESTART)

    @staticmethod
    async def quietly(operation: Awaitable[Any]) -> None:
        """Await a write to a socket that may be closing already."""
        try:
            await operation
        except SocketClosed:
            pass
        except Exception:
            logger.debug("Writing to a closing socket failed", exc_info=True)

    # -- connection --------------------------------------------------------------------------------------------

    async def connect(self) -> None:
        origin = self.header("origin")
        if not is_origin_allowed(origin, conf.ALLOWED_ORIGINS, allowed_hosts(), self.header("host")):
            logger.warning("Refused a signaling socket from origin %r", origin)
            metrics.SOCKETS_REFUSED.labels(str(CloseCode.ORIGIN_NOT_ALLOWED)).inc()
            # Accept first: a handshake refused outright reaches the page as a bare 1006, without the code.
            await self.accept()
            await self.end(CloseCode.ORIGIN_NOT_ALLOWED)
            return
        user = self.scope.get("user")
        if user is not None and user.is_authenticated:
            self.session_user_id = user.pk
        client = self.scope.get("client")
        self.client_address = client[0] if client else None
        self.config = ConnectionConfig.now(self.max_peers)
        # A draining worker takes no new peers: the client comes back at once and reaches another worker.
        refusal = CloseCode.SERVICE_RESTART if drain.is_draining() else self.config.admission.open(self.client_address)
        if refusal is not None:
            logger.warning("Refused a signaling socket from %s (close code %d)", self.client_address, refusal)
            metrics.SOCKETS_REFUSED.labels(str(refusal)).inc()
            await self.accept()
            await self.end(refusal)
            return
        self.admitted = True
        drain.track(self)
        self.rate = TokenBucket(conf.RATE_LIMIT_PER_SECOND, conf.RATE_LIMIT_BURST)
        self.rate_tolerance = TokenBucket(1.0, conf.RATE_LIMIT_TOLERANCE)
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        self.url_token = query["token"][0] if "token" in query else None
        self.url_room = query["room"][0] if "room" in query else None
        self.user_agent = (self.header("user-agent") or "")[:USER_AGENT_MAX_LENGTH].replace("\x00", "")
        await self.accept()

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        # Channels' version also makes a close_old_connections() thread hop on every disconnect; nothing here holds
        # a database connection in that thread (sync callbacks clean up after themselves), and no groups exist.
        await self.disconnect(message["code"])
        raise StopConsumer()

    async def disconnect(self, code: int | None) -> None:
        # Daphne reports a close frame without a status code as None (1005).
        self.socket_gone = True
        if self.turn_refresh is not None:
            self.turn_refresh.cancel()
        if self.peer is None:
            return
        try:
            # Parked only when the connection dropped (no close frame), or the client said it will resume: not
            # when the client closed it on purpose (with or without a code) or this server closed it.
            dropped = not self.closing and code in PARKING_CLOSE_CODES
            if self.config.resume_grace > 0 and dropped and await self.park():
                return
            await self.leave_room(LeaveReason.DISCONNECT)
        except Exception:
            logger.exception("Leaving the room of a closed socket failed")

    async def join_registry(self, room_id: str, peer: LocalPeer, seats: int, state: PeerState | None) -> JoinResult:
        """Join; when the room is full and one of its seats is held for this same client's dropped connection
        (parked, waiting for a resume that a client without resume never makes), that ghost leaves and the join
        is tried once more."""
        try:
            return await self.config.registry.join(room_id, peer, seats, state)
        except RoomFull:
            role_peer = peer.peer_id.startswith(ROLE_PEER_PREFIX)
            if not await self.config.registry.release_parked_seat(room_id, role_peer, peer.client):
                raise
        # Another join may take the released seat first: then this one is refused as full.
        return await self.config.registry.join(room_id, peer, seats, state)

    async def park(self, still_speaking: bool = False) -> bool:
        """Keep this dropped (or draining) peer's place for the resume grace period; False if that is not possible
        here. A peer of an SFU room hands on its Janus session, which waits for the resume with the place."""
        peer = self.require_peer()
        member = self.sfu_member
        handoff = member.handoff() if member is not None else ""
        if not await self.config.registry.park(
            peer.room_id, peer.peer_id, peer, self.config.resume_grace, still_speaking, handoff
        ):
            return False
        self.peer = None
        if member is not None:
            self.sfu_member = None
            await member.let_go()
        return True

    async def replaced(self) -> None:
        """A resume on another socket took this peer's place (the client came back elsewhere): close this socket
        without leaving the room."""
        self.peer = None
        await self.end(CloseCode.REPLACED)

    async def evict(self, reason: LeaveReason) -> None:
        """A moderator ended this peer's stay: tell the client why, leave with that reason, close the socket."""
        if self.peer is None:
            if self.joining:
                # Its place is in the registry already, the join is still at Janus (or the resume takes over its
                # session): the eviction waits for it, and is not lost.
                self.eviction_pending = reason
            return
        # Out of the room first (no await before that): a `leave` the client sends meanwhile finds no membership.
        await self.leave_room(reason)
        await self.tell_ended(reason)

    async def tell_ended(self, reason: LeaveReason) -> None:
        """Tell the client a moderator ended its stay (``closed``, with why), and close its socket with the code."""
        await self.send_frame(closed_frame(reason.value))
        await self.end(EVICTION_CLOSE_CODES[reason])

    async def end(self, code: int) -> None:
        """Close the socket from the server side and ignore whatever the client still sends."""
        self.closing = True
        if self.socket_gone:
            return
        if self.socket is not None and code != 1000 and not 3000 <= code <= 4999:
            # 1011-1014 (internal error, service restart, try again later): daphne's ASGI close cannot send them.
            try:
                self.socket.close(code)
            except Exception:
                logger.debug("Closing a socket that is closing already failed", exc_info=True)
            return
        await self.quietly(self.close(code=code))

    def cut_off_slow_reader(self) -> None:
        """The client leaves too much unread: close its socket (4013) and drop the connection shortly after if
        the close frame cannot get through either. Its peer then leaves the room, from its own task."""
        if self.socket_gone:
            return
        logger.warning("Cutting off a client that does not read (%s)", self.client_address)
        metrics.SLOW_READERS.inc()
        self.closing = True
        self.socket_gone = True
        in_background(self.quietly(self.close(code=CloseCode.SLOW_READER)))
        if self.socket is not None:
            asyncio.get_running_loop().call_later(SLOW_READER_CLOSE_SECONDS, self.socket.abort)

    def header(self, name: str) -> str | None:
        wanted = name.encode("latin-1")
        for key, value in self.scope.get("headers", ()):
            if key.lower() == wanted:
                return str(value.decode("latin-1"))
        return None

    # -- incoming frames ---------------------------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.closing and self.draining_peer is None:
            return
        if not self.rate.allow():
            if not self.rate_tolerance.allow():
                await self.end(CloseCode.RATE_LIMITED)
                return
            await self.refuse(SignalingError(ErrorCode.RATE_LIMITED, "Rate limit exceeded"))
            return
        try:
            if text_data is None:
                raise SignalingError(ErrorCode.INVALID_MESSAGE, "Binary frames are not supported")
            # Characters never outnumber UTF-8 bytes, and a character takes at most four, so most frames
            # are judged by their length alone.
            length = len(text_data)
            limit = self.config.max_message_bytes
            if length * 4 > limit and (length > limit or len(text_data.encode()) > limit):
                raise SignalingError(ErrorCode.TOO_LARGE, f"Message too large (max {limit} bytes)")
            await self.dispatch_frame(parse_client_frame(text_data, self.config.max_metadata_bytes))
        except InvalidJoin as error:
            self.join_refused(error, error.requested_room, self.session_user_id)
            await self.refuse(error)
        except SignalingError as error:
            await self.refuse(error)
        except Exception as error:
            logger.exception("Signaling handler failed")
            await self.refuse(SignalingError(ErrorCode.INTERNAL, "Internal error"), cause=error)

    async def dispatch_frame(self, frame: ClientFrame) -> None:
        """Hand a client frame to its handler. The relayed frames, the busiest by far, are matched first."""
        match frame:
            case Ice():
                await self.handle_ice(frame)
            case Sdp():
                await self.handle_sdp(frame)
            case Ping():
                await self.handle_ping(frame)
            case Join():
                await self.handle_join(frame)
            case Leave():
                await self.handle_leave(frame)
            case Update():
                await self.handle_update(frame)
            case Path():
                await self.handle_path(frame)
            case ConnectionTestRequest():
                await self.handle_connection_test(frame)
            case ConnectionReport():
                await self.handle_connection_report(frame)
            case SfuMoveTaken():
                self.sfu_moves_unacknowledged = max(0, self.sfu_moves_unacknowledged - 1)
            case SfuPublish() | SfuSubscribed() | SfuIce() | SfuRestart() | SfuQuality() if (
                self.sfu_moves_unacknowledged
            ):
                self.require_sfu_member()  # of the connections the client had before the move: dropped
            case SfuPublish():
                await self.handle_sfu_publish(frame)
            case SfuSubscribed():
                await self.handle_sfu_subscribed(frame)
            case SfuIce():
                await self.handle_sfu_ice(frame)
            case SfuRestart():
                self.require_sfu_member().restart(fresh=frame.fresh)
            case SfuQuality():
                self.require_sfu_member().want_quality(frame.peer_id, frame.quality)
            case Data():
                await self.handle_data(frame)
            case _:
                assert_never(frame)

    async def refuse(self, error: SignalingError, cause: Exception | None = None) -> None:
        """Tell the client its message was refused; the socket stays open."""
        await self.send_frame(error.frame())
        peer = self.peer
        self.emit(
            ErrorRaised(
                error=cause or error,
                peer_id=peer.peer_id if peer else None,
                room_id=peer.room_id if peer else None,
                at=timezone.now(),
            )
        )

    async def send_frame(self, frame: str) -> None:
        """Write one text frame to this client. A socket that is closing or gone takes nothing, silently: that is
        an ordinary moment in a connection's life, and its disconnect is on its way."""
        if self.socket_gone:
            return
        try:
            await self.base_send({"type": "websocket.send", "text": frame})
        except SocketClosed:
            self.socket_gone = True
            return
        socket = self.socket
        if socket is not None and socket.buffered_bytes() > self.config.max_outbound_bytes:
            self.cut_off_slow_reader()

    def emit(self, event: Event) -> None:
        self.config.dispatcher.emit(event, self.callbacks, type(self))

    # -- client messages ---------------------------------------------------------------------------------------

    async def handle_join(self, frame: Join) -> None:
        """Join a room: who joins, a resume if it brings one, else a new seat; then ``joined``. Each step raises
        ``SignalingError`` to refuse the join, which is then told to the client and reported (``JoinRejected``)."""
        started = time.monotonic()
        # Who joins is decided per join: a room token's user counts for the join that carried it, never for a
        # later one on the same socket.
        user_id = self.session_user_id
        self.joining = True
        try:
            await self.join_room(frame, started, user_id)
        finally:
            self.joining = False
        pending, self.eviction_pending = self.eviction_pending, None
        if pending is not None and self.peer is not None:
            await self.evict(pending)

    async def join_room(self, frame: Join, started: float, user_id: Any) -> None:
        """``handle_join``'s steps; ``user_id``: the socket's session user (a room token may name another)."""
        try:
            self.check_may_join(frame)
            grant = self.room_grant(frame.room_id, frame.token if frame.token is not None else self.url_token)
            if grant is not None and grant.user_id is not None:
                user_id = grant.user_id
            # Per join, like the user: a token's user vouches for the join that carried it only. A peer in an extra
            # seat (a recorder, an agent) is the site's own: it names itself.
            vouching = user_id is not None and (grant is None or not takes_extra_seat(grant.role))
            self.vouched = await self.vouched_metadata(user_id) if vouching else {}
            if frame.resume is not None and await self.resume_peer(frame, user_id):
                if self.peer is not None:  # back in its place (else told that a moderator ended its stay)
                    self.count_join(started)
                return
            peer, state, result = await self.take_seat(frame, grant, user_id)
        except SignalingError as error:
            self.join_refused(error, frame.room_id, user_id)
            raise
        await self.enter_room(peer, state, result.peers, result.states)
        self.count_join(started)
        self.announce_join(peer, state, result.room_created, user_id)

    def check_may_join(self, frame: Join) -> None:
        """Refuse a join this socket may not make now: it is in a room already, its address joins too often, or
        the room is not the one its URL named."""
        if self.peer is not None:
            raise SignalingError(ErrorCode.ALREADY_JOINED, "Already in a room")
        if not self.config.admission.allow_join(self.client_address):
            raise SignalingError(ErrorCode.RATE_LIMITED, "Too many joins from your address; try again shortly")
        if self.url_room is not None and self.url_room != frame.room_id:
            raise SignalingError(ErrorCode.INVALID_ROOM, "roomId does not match the socket's ?room=")

    async def take_seat(
        self, frame: Join, grant: RoomGrant | None, user_id: Any
    ) -> tuple[LocalPeer, PeerState, JoinResult]:
        """A new peer's seat in the room, under the room's policy: the peer, its state and what the registry
        answered."""
        room_id = frame.room_id
        policy = await self.config.room_resolver.resolve(room_id)
        max_peers = self.room_capacity(policy, grant, user_id)
        sfu = self.sfu_of(policy, frame)
        if sfu is not None:
            assert policy is not None
            max_peers = sfu_capacity(policy.max_peers)
        role = grant.role if grant is not None else None
        if role == PeerRole.VIEWER and sfu is None:
            raise SignalingError(ErrorCode.FORBIDDEN, VIEWER_NEEDS_SFU)
        peer = self.local_peer(new_peer_id(role), room_id, self.mount, max_peers, self.client_key(user_id))
        # A recorder or an agent sits in one of the room's extra seats, never in a participant's.
        seats = conf.EXTRA_SEATS if takes_extra_seat(role) else max_peers
        state = merged_state({}, frame.metadata, frame.media, self.vouched)
        try:
            result = await self.join_registry(room_id, peer, seats, state)
        except RoomFull as full:
            raise SignalingError(ErrorCode.ROOM_FULL, room_full_message(full.max_peers)) from None
        except RegistryUnavailable:
            raise SignalingError(ErrorCode.INTERNAL, UNAVAILABLE) from None
        if (
            result.room_created
            and policy is None
            and not self.config.admission.allow_room_creation(self.client_address)
        ):
            # Nobody else is in a room this join created, so taking it back is seen by no one.
            await self.config.registry.leave(room_id, peer.peer_id, LeaveReason.LEAVE.value)
            raise SignalingError(ErrorCode.RATE_LIMITED, "Too many new rooms from your address; try again later")
        if sfu is not None:
            await self.join_sfu(sfu, peer, max_peers, display_name(state.get("metadata")))
        return peer, state, result

    def sfu_of(self, policy: RoomPolicy | None, frame: Join) -> SfuService | None:
        """The SFU this join's room sends its media through (None for a mesh room); refuse a client that cannot take
        part in an SFU room, and any join of one while no SFU is configured."""
        if policy is None or policy.topology != Topology.SFU:
            return None
        if "sfu" not in frame.capabilities:
            raise SignalingError(ErrorCode.SFU_UNSUPPORTED, SFU_UNSUPPORTED)
        sfu = get_sfu()
        if sfu is None:
            raise SignalingError(ErrorCode.SFU_UNAVAILABLE, SFU_UNAVAILABLE)
        if "sfu-move" in frame.capabilities:
            self.follows_sfu_moves = True
        return sfu

    async def join_sfu(self, sfu: SfuService, peer: LocalPeer, max_peers: int, display: str) -> None:
        """Take ``peer``'s place in the Janus room too; without the SFU, it leaves the room it just joined."""
        try:
            member = await sfu.member(peer.room_id, peer.peer_id, max_peers, peer.deliver, self.sfu_lost)
            await member.join(display)
        except (JanusError, JanusUnavailable) as error:
            logger.warning("Joining the SFU for room %s failed: %s", peer.room_id, error)
            metrics.SFU_UP.set(0)
            await self.config.registry.leave(peer.room_id, peer.peer_id, LeaveReason.LEAVE.value)
            raise SignalingError(ErrorCode.SFU_UNAVAILABLE, SFU_UNAVAILABLE) from None
        metrics.SFU_UP.set(1)
        self.sfu_member = member

    async def resume_sfu(self, sfu: SfuService, peer: LocalPeer, max_peers: int, handoff: str, display: str) -> None:
        """A resumed peer's place in the Janus room: the session its last connection handed on, taken over (its
        media went on), or else a new one; without the SFU, it leaves the room it took back."""
        try:
            member, kept = await sfu.resumed_member(
                peer.room_id, peer.peer_id, max_peers, peer.deliver, self.sfu_lost, handoff, display
            )
        except (JanusError, JanusUnavailable) as error:
            logger.warning("Resuming peer %s in the SFU of room %s failed: %s", peer.peer_id, peer.room_id, error)
            metrics.SFU_UP.set(0)
            # Its place was taken back for nothing: it leaves, as its socket would have (announced, recorded).
            self.peer = peer
            await self.leave_room(LeaveReason.DISCONNECT)
            raise SignalingError(ErrorCode.SFU_UNAVAILABLE, SFU_UNAVAILABLE) from None
        metrics.SFU_UP.set(1)
        metrics.SFU_TAKEOVERS.labels("kept" if kept else "new").inc()
        self.sfu_member = member
        self.sfu_session_kept = kept

    async def enter_room(
        self, peer: LocalPeer, state: PeerState, peers: list[str], states: dict[str, PeerState]
    ) -> None:
        """Make ``peer`` this socket's member: ``joined`` goes out, then the frames held for it meanwhile."""
        self.peer = peer
        self.peer_state = state
        await self.send_joined(peer, peers, states)
        await peer.open()

    def count_join(self, started: float) -> None:
        metrics.JOINS.labels("joined").inc()
        metrics.JOIN_LATENCY.observe(time.monotonic() - started)

    def announce_join(self, peer: LocalPeer, state: PeerState, room_created: bool, user_id: Any) -> None:
        now = timezone.now()
        if room_created:
            self.emit(RoomCreated(room_id=peer.room_id, at=now))
        self.emit(
            PeerJoined(
                room_id=peer.room_id,
                peer_id=peer.peer_id,
                at=now,
                user_id=user_id,
                client_address=self.client_address,
                user_agent=self.user_agent,
                display_name=display_name(state.get("metadata")),
            )
        )

    def join_refused(self, error: SignalingError, requested_room: str | None, user_id: Any) -> None:
        metrics.JOINS.labels(error.code.value).inc()
        self.emit(
            JoinRejected(
                room_id=requested_room,
                code=error.code.value,
                message=error.message,
                at=timezone.now(),
                user_id=user_id,
                client_address=self.client_address,
            )
        )

    async def vouched_metadata(self, user_id: Any) -> dict[str, Any]:
        """What the server vouches for about the joining user (``SIGNALING["USER_METADATA"]``)."""
        if not conf.USER_METADATA:
            return {}
        session_user = self.scope.get("user")
        if session_user is not None and session_user.is_authenticated and session_user.pk == user_id:
            vouched: dict[str, Any] = await database_sync_to_async(vouched_metadata)(session_user)
        else:
            vouched = await database_sync_to_async(_vouched_metadata_of_user_id)(user_id)
        return vouched

    async def send_joined(self, peer: LocalPeer, peers: list[str], states: dict[str, PeerState]) -> None:
        # Extensions: every member's metadata and media state (ours included), as of this join.
        members = {*peers, peer.peer_id}
        fields = states_fields({peer_id: state for peer_id, state in states.items() if peer_id in members})
        joined: JoinedFrame = {
            "t": "joined",
            "peerId": peer.peer_id,
            "roomId": peer.room_id,
            "peers": peers,
            "maxPeers": peer.max_peers,
            "resume": resume.resume_token(peer.room_id, peer.peer_id),
            # Extensions: the peers here that are not participants (recorders, agents), and our own role.
            "roles": {peer_id: role for peer_id in peers if (role := role_of(peer_id)) is not None},
            "metadata": fields["metadata"],
            "media": fields["media"],
        }
        own_role = role_of(peer.peer_id)
        if own_role is not None:
            joined["role"] = own_role
        if self.sfu_member is not None:
            joined["topology"] = Topology.SFU.value
            # Whether the client's connections with the SFU live on (a resume took its Janus session over).
            joined["sfuSession"] = "kept" if self.sfu_session_kept else "new"
            self.sfu_session_kept = False
        ice_servers = ice_servers_for(peer.peer_id)
        if ice_servers is not None:
            joined["iceServers"] = ice_servers
        await self.send_frame(encode(joined))
        self.paths = {}
        interval = turn_refresh_interval()
        if interval is not None:
            if self.turn_refresh is not None:
                self.turn_refresh.cancel()
            self.turn_refresh = asyncio.ensure_future(self.refresh_turn_credentials(peer, interval))

    async def refresh_turn_credentials(self, peer: LocalPeer, interval: float) -> None:
        """While ``peer`` is this socket's member, send it fresh TURN credentials every ``interval`` seconds: a
        relayed call must refresh its allocation and permissions with credentials that have not expired."""
        while True:
            await asyncio.sleep(interval)
            if self.peer is not peer or self.socket_gone:
                return
            servers = ice_servers_for(peer.peer_id)
            if servers is not None:
                await self.send_frame(ice_servers_frame(servers))

    async def resume_peer(self, frame: Join, user_id: Any = None) -> bool:
        """Take back a peer's place under its old id, wherever it is held; False when there is none to take (the
        join then goes on as a new one). A peer a moderator evicted while it was away is told so instead."""
        room_id = frame.room_id
        claimed = resume.read_resume_token(frame.resume)
        if claimed is None or claimed[0] != room_id:
            metrics.RESUMES.labels("invalid").inc()
            return False
        policy = await self.config.room_resolver.resolve(room_id)
        try:
            # A client that cannot take part in the room's SFU (any more) is refused by the new join that follows.
            sfu = self.sfu_of(policy, frame)
        except SignalingError:
            return False
        max_peers = (policy.max_peers if policy is not None else None) or self.config.default_max_peers
        if sfu is not None:
            max_peers = sfu_capacity(policy.max_peers if policy is not None else None)
        peer = self.local_peer(claimed[1], room_id, self.mount, max_peers, self.client_key(user_id))
        # What was kept for the peer is delivered to it first, then whatever arrives from now on; all of it after
        # `joined` (the peer holds frames until it opens).
        resumed = await self.config.registry.resume(room_id, claimed[1], peer)
        if resumed is None:
            metrics.RESUMES.labels("expired").inc()
            logger.info("Peer %s came back too late to resume: it had left room %s", claimed[1], room_id)
            return False
        if isinstance(resumed, Ended):
            # A moderator ended its stay while its socket was down: it is told now, as it would have been then,
            # and does not come back as a new peer.
            metrics.RESUMES.labels("ended").inc()
            await self.tell_ended(LeaveReason(resumed.reason))
            return True
        state = resumed.states.get(peer.peer_id, {})
        if sfu is not None:
            await self.resume_sfu(sfu, peer, max_peers, resumed.handoff, display_name(state.get("metadata")))
        await self.enter_room(peer, state, resumed.peers, resumed.states)
        metrics.RESUMES.labels("other_worker" if resumed.from_other_worker else "same_worker").inc()
        return True

    def local_peer(self, peer_id: str, room_id: str, mount: int, max_peers: int, client: str) -> LocalPeer:
        return LocalPeer(
            peer_id,
            room_id,
            mount,
            max_peers,
            self.send_frame,
            self.end,
            self.evict,
            self.replaced,
            self.cut_off_slow_reader,
            self.config.max_outbound_bytes,
            client,
        )

    def client_key(self, user_id: Any) -> str:
        """Who this client is as far as the server can tell (``PeerHandle.client``): a digest of its address, its
        user agent and its user; '' without an address."""
        if self.client_address is None:
            return ""
        who = f"{self.client_address}\n{self.user_agent}\n{'' if user_id is None else user_id}"
        return hashlib.blake2b(who.encode(), digest_size=12).hexdigest()

    def room_grant(self, room_id: str, token: object) -> RoomGrant | None:
        """What the join's room token grants; a token that is bad, expired or for another room is refused."""
        if token is None:
            return None
        grant = read_room_token(token)
        if grant is None or grant.room_id != room_id:
            raise SignalingError(ErrorCode.FORBIDDEN, "Invalid or expired room token")
        return grant

    def room_capacity(self, policy: RoomPolicy | None, grant: RoomGrant | None = None, user_id: Any = None) -> int:
        """How many peers a room with this stored ``policy`` (None: an ad-hoc room) admits to this join; raise
        ``SignalingError`` to refuse it."""
        if policy is None:
            if not self.config.allow_ad_hoc_rooms:
                raise SignalingError(ErrorCode.INVALID_ROOM, "Room not found")
            return self.config.default_max_peers
        if not policy.is_open:
            raise SignalingError(ErrorCode.ROOM_CLOSED, "Room is closed")
        if policy.access == Access.TOKEN and grant is None:
            raise SignalingError(ErrorCode.FORBIDDEN, "This room needs a room token")
        if policy.access == Access.AUTHENTICATED and grant is None and self.session_user_id is None:
            raise SignalingError(ErrorCode.FORBIDDEN, "Log in, or bring a room token, to join this room")
        banned_until = policy.banned_until(user_id)
        if banned_until is not None:
            raise SignalingError(ErrorCode.FORBIDDEN, banned_message(banned_until))
        return policy.max_peers or self.config.default_max_peers

    async def handle_leave(self, frame: Leave) -> None:
        self.require_peer()
        await self.leave_room(LeaveReason.LEAVE)

    async def handle_update(self, frame: Update) -> None:
        peer = self.require_peer()
        metadata, media = frame.metadata, frame.media
        state = merged_state(self.peer_state, metadata, media, self.vouched)
        if state == self.peer_state:
            return  # nothing changed: nobody needs telling
        notice = peer_updated_frame(
            peer.peer_id,
            state.get("metadata") if metadata is not None else None,
            state.get("media") if media is not None else None,
        )
        try:
            updated = await self.config.registry.update(peer.room_id, peer.peer_id, state, notice)
        except RegistryUnavailable:
            raise SignalingError(ErrorCode.INTERNAL, UNAVAILABLE) from None
        if not updated or self.peer is not peer:
            return  # it left meanwhile
        previous = self.peer_state.get("metadata")
        self.peer_state = state
        if metadata is not None and state.get("metadata") != previous:
            self.emit(
                PeerUpdated(
                    room_id=peer.room_id,
                    peer_id=peer.peer_id,
                    at=timezone.now(),
                    metadata=state["metadata"],
                    display_name=display_name(state["metadata"]),
                )
            )

    async def handle_path(self, frame: Path) -> None:
        """The client's word on how its connection to one peer goes (extension): logged, and counted, when it
        changes. Not relayed to anyone."""
        peer = self.require_peer()
        remote_id, relay, protocol = frame.peer_id, frame.relay, frame.protocol
        if self.paths.get(remote_id) == (relay, protocol):
            return
        if remote_id not in self.paths and len(self.paths) >= peer.max_peers + conf.EXTRA_SEATS:
            return  # more peers than the room seats: not a real one
        self.paths[remote_id] = (relay, protocol)
        metrics.MEDIA_PATHS.labels("relay" if relay else "direct", protocol or "none").inc()
        self.emit(
            PeerPathReported(
                room_id=peer.room_id,
                peer_id=peer.peer_id,
                remote_id=remote_id,
                relay=relay,
                protocol=protocol,
                at=timezone.now(),
            )
        )

    async def handle_connection_test(self, frame: ConnectionTestRequest) -> None:
        """What the client's connection test needs (extension): our ICE servers, with credentials of its own."""
        self.allow_connection_test()
        await self.send_frame(connection_test.connection_test_frame(self.client_address))

    async def handle_connection_report(self, frame: ConnectionReport) -> None:
        """A connection test's results, for the site's support staff (extension): passed on as an event, and the
        client is told the id it is kept under."""
        self.allow_connection_test()
        if not connection_test.reports_are_kept():
            raise SignalingError(ErrorCode.FORBIDDEN, "This server keeps no connection reports")
        if self.reports_sent >= connection_test.MAX_REPORTS_PER_SOCKET:
            raise SignalingError(ErrorCode.RATE_LIMITED, "Too many connection reports from this socket")
        self.reports_sent += 1
        report_id = connection_test.new_report_id()
        session = self.scope.get("session")
        await self.send_frame(connection_test.report_received_frame(report_id))
        self.emit(
            ConnectionReported(
                report_id=report_id,
                checks=frame.checks,
                ok=frame.passed,
                user_id=self.session_user_id,
                session_key=(getattr(session, "session_key", None) or "") if session is not None else "",
                client_address=self.client_address,
                user_agent=self.user_agent,
                at=timezone.now(),
            )
        )

    def allow_connection_test(self) -> None:
        """Refuse a connection test this client may not run (``CONNECTION_TEST``), or one too many from its
        address: each request costs one of the address's joins."""
        refused = connection_test.refusal(self.session_user_id)
        if refused is not None:
            raise refused
        if not self.config.admission.allow_join(self.client_address):
            raise SignalingError(ErrorCode.RATE_LIMITED, "Too many requests from your address; try again shortly")

    async def leave_room(self, reason: LeaveReason) -> None:
        """Take this connection out of its room and tell the others why."""
        peer = self.require_peer()
        self.peer = None
        self.peer_state = {}
        destroyed = await self.config.registry.leave(peer.room_id, peer.peer_id, reason.value)
        await self.leave_sfu()
        if destroyed is None:
            return
        now = timezone.now()
        self.emit(PeerLeft(room_id=peer.room_id, peer_id=peer.peer_id, reason=reason.value, at=now))
        if destroyed:
            self.emit(RoomDestroyed(room_id=peer.room_id, at=now))

    async def handle_sdp(self, frame: Sdp) -> None:
        peer = self.speaking_peer()
        payload: RelayedSdpFrame = {"t": "sdp", "from": peer.peer_id, "description": frame.description}
        await self.relay(peer, "sdp", frame.to, payload)

    async def handle_ice(self, frame: Ice) -> None:
        peer = self.speaking_peer()
        payload: RelayedIceFrame = {"t": "ice", "from": peer.peer_id, "candidate": frame.candidate}
        await self.relay(peer, "ice", frame.to, payload)

    async def relay(
        self, peer: LocalPeer, kind: str, to: str | None, payload: RelayedSdpFrame | RelayedIceFrame
    ) -> None:
        await self.config.registry.relay(peer.room_id, peer.peer_id, to, encode(payload))
        if self.callbacks.on_message is not None or signals.message_relayed.has_listeners(type(self)):
            self.emit(
                MessageRelayed(kind=kind, from_peer=peer.peer_id, to_peer=to, room_id=peer.room_id, at=timezone.now())
            )

    async def handle_ping(self, frame: Ping) -> None:
        ts = frame.ts
        pong: PongFrame = {"t": "pong"} if ts is None else {"t": "pong", "ts": ts}
        await self.send_frame(encode(pong))

    async def leave_sfu(self) -> None:
        """Leave the SFU: the peer's Janus session goes (its Janus room goes with the room: ``sfu.room_end``)."""
        member, self.sfu_member = self.sfu_member, None
        if member is not None:
            await member.leave()

    async def sfu_lost(self) -> None:
        """The peer's Janus session is lost to it: its node went away or stopped answering, or its room moved to
        another node (a drain). The peer moves with its room: it joins it on its node now, under the same id, and
        its client, told ``sfu-moved``, publishes and subscribes again; nobody sees it leave. Where no node can
        take the room, it is told so and its socket is closed with 1013 (try again later): its client comes back,
        and joins again once an SFU is there."""
        member, sfu = self.sfu_member, get_sfu()
        if member is None or self.socket_gone or self.peer is None:
            return
        # A client that cannot follow a move (it did not say `sfu-move`) comes back instead, as from a lost SFU.
        if sfu is not None and self.follows_sfu_moves and await self.move_sfu(sfu, member):
            return
        metrics.SFU_UP.set(0)
        await self.end_for_lost_sfu()

    async def end_for_lost_sfu(self) -> None:
        if self.socket_gone:
            return  # it went while the move was tried
        await self.send_frame(SignalingError(ErrorCode.SFU_UNAVAILABLE, SFU_LOST).frame())
        await self.end(CloseCode.TRY_AGAIN_LATER)

    async def move_sfu(self, sfu: SfuService, old: SfuMember) -> bool:
        """Move the peer from ``old`` to a member on its room's node now; False when no node can take it."""
        peer = self.peer
        assert peer is not None
        try:
            member = await sfu.member(peer.room_id, peer.peer_id, old.publishers, peer.deliver, self.sfu_lost)
        except (JanusError, JanusUnavailable) as error:
            logger.warning("Peer %s cannot move to another SFU node: %s", peer.peer_id, error)
            return False
        if self.sfu_member is not old or self.socket_gone:
            sfu.forget(member)  # the socket went, or a moderator ended the stay, meanwhile
            return True
        reason = "moved" if member.node != old.node and not old.connection.closed else "node-lost"
        logger.info(
            "Peer %s of room %s moves from SFU node %s to %s", peer.peer_id, peer.room_id, old.node, member.node
        )
        # The member is the socket's before it joins: the client's frames after `sfu-moved` wait for the join. The
        # old one says nothing more to the client.
        old.silence()
        self.sfu_member = member
        moved: SfuMovedFrame = {"t": "sfu-moved"}
        # What the client sends until it acknowledges this is of its old connections (sfu-move-taken).
        self.sfu_moves_unacknowledged += 1
        await self.send_frame(encode(moved))
        try:
            # A session of this peer may still be in the room there (a worker's connection to a node that lived on
            # broke): it makes way.
            await (await sfu.nodes[member.node].admin()).kick(peer.room_id, peer.peer_id)
            await member.join(display_name(self.peer_state.get("metadata")))
        except (JanusError, JanusUnavailable) as error:
            logger.warning("Peer %s could not join its room on SFU node %s: %s", peer.peer_id, member.node, error)
            in_background(sfu.retire(old))
            return False
        finally:
            if self.sfu_member is not member:
                # The socket dropped (parked: there was nothing to hand on yet) or left while the join was at
                # Janus: the session it made there goes now, or it would be kept alive for nobody.
                in_background(member.leave())
        metrics.SFU_MOVES.labels(reason).inc()
        in_background(sfu.retire(old))
        return True

    def require_sfu_member(self) -> SfuMember:
        self.require_peer()
        if self.sfu_member is None:
            raise SignalingError(ErrorCode.INVALID_MESSAGE, NOT_IN_AN_SFU_ROOM)
        return self.sfu_member

    async def handle_sfu_publish(self, frame: SfuPublish) -> None:
        member = self.require_sfu_member()
        if role_of(member.peer_id) == PeerRole.VIEWER:
            raise SignalingError(ErrorCode.FORBIDDEN, VIEWER_CANNOT_PUBLISH)
        try:
            answer = await member.publish(frame.description, fresh=frame.fresh)
        except JanusError as error:
            raise SignalingError(ErrorCode.INVALID_MESSAGE, f"The SFU refused the offer: {error.reason}") from None
        except JanusUnavailable:
            raise SignalingError(ErrorCode.SFU_UNAVAILABLE, SFU_UNAVAILABLE) from None
        published: SfuPublishedFrame = {"t": "sfu-published", "description": dict(answer)}
        await self.send_frame(encode(published))

    async def handle_sfu_subscribed(self, frame: SfuSubscribed) -> None:
        if not self.require_sfu_member().answered(frame.description):
            raise SignalingError(ErrorCode.INVALID_MESSAGE, "No sfu-subscription is waiting for an answer")

    async def handle_sfu_ice(self, frame: SfuIce) -> None:
        try:
            await self.require_sfu_member().trickle(frame.target, frame.candidate)
        except JanusUnavailable:
            raise SignalingError(ErrorCode.SFU_UNAVAILABLE, SFU_UNAVAILABLE) from None

    async def handle_data(self, frame: Data) -> None:
        """A data-channel message in an SFU room, relayed by this server: to one peer, which alone receives it, or
        to everyone else in the room."""
        self.require_sfu_member()
        peer = self.speaking_peer()
        relayed: RelayedDataFrame = {"t": "data", "from": peer.peer_id, "label": frame.label}
        if frame.text is not None:
            relayed["text"] = frame.text
        else:
            assert frame.binary is not None
            relayed["binary"] = frame.binary
        await self.config.registry.relay(peer.room_id, peer.peer_id, frame.to, encode(relayed))

    def speaking_peer(self) -> LocalPeer:
        """Whom this socket's relayed frames come from: its peer, or the one a drain parked while the client has
        not yet taken the close (frames it sent meanwhile are not lost)."""
        if self.peer is None and self.draining_peer is not None:
            return self.draining_peer
        return self.require_peer()

    def require_peer(self) -> LocalPeer:
        if self.peer is None:
            raise SignalingError(ErrorCode.NOT_IN_ROOM, NOT_IN_A_ROOM)
        return self.peer
