"""``WebRTCCall``: a Python program's part in a mesh call, speaking the protocol of the browser client
(docs/protocol.md) with aiortc for the media and data. It needs no Django: any asyncio program can use it.

::

    async with WebRTCCall("wss://example.org/api/call/signal", "lobby", data_channels=["chat"]) as call:
        call.on(DataChannelMessage, lambda event: print(event.peer_id, event.data))
        async for event in call.events():
            if isinstance(event, DataChannelOpen):
                call.send_string_to(event.peer_id, "chat", "hello from Python")
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import random
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from aiortc.mediastreams import MediaStreamTrack
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as websocket_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from signaling.peer.errors import FINAL_CLOSE_CODES, RETRYABLE_JOIN_ERRORS, WebRTCCallError
from signaling.peer.events import (
    CallEvent,
    ConnectionState,
    DataChannelClose,
    DataChannelMessage,
    DataChannelOpen,
    ErrorOccurred,
    Joined,
    PeerJoined,
    PeerLeft,
    PeerUpdated,
    Reconnected,
    Reconnecting,
    SfuMoved,
    StateChanged,
    TrackReceived,
)
from signaling.peer.link import DataChannelConfig, LinkEvents, PeerLink
from signaling.peer.media import (
    DEFAULT_MAX_BUFFERED_FRAMES,
    RemoteTrack,
    SharedSource,
    TrackFeed,
    key_frame_requester,
)
from signaling.peer.sfu import SfuEvents, SfuSession, data_frame, data_of
from signaling.protocol import ROOM_ID_PATTERN, SFU_QUALITIES, CloseCode
from signaling.timeouts import within

if TYPE_CHECKING:
    from signaling.peer.recording import PeerRecording

logger = logging.getLogger(__name__)

E = TypeVar("E", bound=CallEvent)

#: Keep-alive period of the signaling socket (as the browser client); silent for 2.5 periods means dead.
PING_INTERVAL = 15.0
#: Signaling messages kept for peers while the socket is down (sent on resume).
MAX_OUTBOX = 1000
#: Events an ``events()`` iterator holds for a reader that is behind; past it the oldest are dropped.
MAX_QUEUED_EVENTS = 1000


def reconnect_delay(attempt: int, base: float = 0.5, ceiling: float = 15.0) -> float:
    """Seconds before reconnection attempt ``attempt`` (1, 2, ...): a random point in the upper half of
    min(ceiling, base * 2^(attempt-1)), as the browser client waits."""
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    top = min(ceiling, base * 2 ** (attempt - 1))
    return float(top / 2 + random.random() * top / 2)


def signaling_url(signal_url: str, room_id: str) -> str:
    """The socket URL: http(s) becomes ws(s), and the room goes in ``?room=`` (the load balancer's affinity)."""
    parts = urlsplit(signal_url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss") or not parts.netloc:
        raise ValueError(f"signal_url must be a ws:, wss:, http: or https: URL, not {signal_url!r}")
    query = dict(parse_qsl(parts.query))
    query.setdefault("room", room_id)
    return urlunsplit((scheme, parts.netloc, parts.path, urlencode(query), ""))


class WebRTCCall:
    """One Python peer in a room. Options follow the browser client's ``WebRTCCallOptions``."""

    def __init__(
        self,
        signal_url: str,
        room_id: str,
        *,
        token: str | None = None,
        tracks: Sequence[MediaStreamTrack] = (),
        data_channels: Sequence[str | DataChannelConfig] = (),
        ice_servers: list[dict[str, Any]] | None = None,
        ice_transport_policy: Literal["all", "relay"] = "all",
        auto_reconnect: bool = True,
        max_reconnect_attempts: int = 5,
        connection_timeout: float = 30.0,
        join_timeout: float = 10.0,
        max_buffered_frames: int = DEFAULT_MAX_BUFFERED_FRAMES,
        polite: bool | None = None,
        headers: dict[str, str] | None = None,
        video_codecs: Sequence[str] = (),
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if not ROOM_ID_PATTERN.fullmatch(room_id):
            raise ValueError("room_id must be 1 to 128 letters, digits, or any of - _ . :")
        self.url = signaling_url(signal_url, room_id)
        self.room_id = room_id
        self.token = token
        self.sources = [SharedSource(track, max_buffered_frames) for track in tracks]
        self.channel_configs = [DataChannelConfig(c) if isinstance(c, str) else c for c in data_channels]
        self.ice_servers_option = ice_servers
        self.ice_transport_policy = ice_transport_policy
        self.auto_reconnect = auto_reconnect
        self.max_reconnect_attempts = max_reconnect_attempts
        self.connection_timeout = connection_timeout
        self.join_timeout = join_timeout
        self.max_buffered_frames = max_buffered_frames
        self.polite_option = polite
        self.headers = headers or {}
        #: Video codecs this peer accepts, in order of preference (empty: aiortc's, VP8 and H.264).
        self.video_codecs = tuple(video_codecs)
        #: What the others learn about this peer (``join.metadata``: ``{"name": "Echo bot"}``).
        self.metadata = dict(metadata or {})

        self.peer_id: str | None = None
        self.max_peers: int | None = None
        self.roles: dict[str, str] = {}
        #: Extension (SFU rooms): the layer asked for of each peer's video (``set_remote_video_quality``).
        self.remote_video_qualities: dict[str, str] = {}
        self.role: str | None = None
        #: Each remote peer's metadata (``{"name": ...}``) and media state (``audio``, ``video``, ``screen``,
        #: ``recording``), as they announced them (extensions; a server of Agentuity's protocol sends none).
        self.peer_metadata: dict[str, dict[str, Any]] = {}
        self.peer_media: dict[str, dict[str, bool]] = {}
        self.error: WebRTCCallError | None = None
        self._state: ConnectionState = "idle"
        self._links: dict[str, PeerLink] = {}
        #: The two connections with the SFU, in an SFU room (extension); then there are no links.
        self._sfu: SfuSession | None = None
        self._remote_peers: list[str] = []
        self._feeds: dict[str, list[TrackFeed]] = {}
        self._socket: ClientConnection | None = None
        self._resume: str | None = None
        self._server_ice_servers: list[dict[str, Any]] | None = None
        self._outbox: list[dict[str, Any]] = []
        self._closed_reason: str | None = None
        self._handlers: dict[type, list[Callable[[Any], Any]]] = {}
        self._subscribers: list[asyncio.Queue[CallEvent | None]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._active = False
        self._joined = asyncio.Event()
        self._ended = asyncio.Event()

    # --- Public state ---------------------------------------------------------------------------------------------

    @property
    def state(self) -> ConnectionState:
        return self._state

    @property
    def remote_peer_ids(self) -> list[str]:
        return list(self._remote_peers)

    @property
    def is_audio_muted(self) -> bool:
        return any(s.muted for s in self.sources if s.kind == "audio")

    @property
    def is_video_muted(self) -> bool:
        return any(s.muted for s in self.sources if s.kind == "video")

    def connection_state(self, peer_id: str) -> str | None:
        if self._sfu is not None:
            # An SFU room: one connection carries every peer's media; its state is theirs.
            return self._sfu.subscriber.connectionState if peer_id in self._remote_peers else None
        link = self._links.get(peer_id)
        return link.state if link else None

    # --- Events ---------------------------------------------------------------------------------------------------

    def on(self, event_type: type[E], handler: Callable[[E], Any]) -> Callable[[], None]:
        """Call ``handler(event)`` for every event of that type (a coroutine function is scheduled); returns a
        function that removes it."""
        self._handlers.setdefault(event_type, []).append(handler)
        return lambda: self._handlers.get(event_type, []).remove(handler)

    async def events(self) -> AsyncIterator[CallEvent]:
        """Every event from now on, until the call ends (hangup or failure); nothing for a call that has ended."""
        if self._ended.is_set() and not self._active:
            return
        queue: asyncio.Queue[CallEvent | None] = asyncio.Queue()
        self._subscribers.append(queue)
        try:
            while True:
                event = await queue.get()
                if event is None:
                    return
                yield event
        finally:
            self._subscribers.remove(queue)

    def _emit(self, event: CallEvent) -> None:
        for queue in self._subscribers:
            if queue.qsize() >= MAX_QUEUED_EVENTS:
                queue.get_nowait()
            queue.put_nowait(event)
        for handler in list(self._handlers.get(type(event), [])):
            try:
                result = handler(event)
                if inspect.isawaitable(result):
                    self._spawn(result)
            except Exception:
                logger.exception("A %s handler failed", type(event).__name__)

    def _set_state(self, state: ConnectionState) -> None:
        if state != self._state:
            self._state = state
            self._emit(StateChanged(state))

    def _update_state(self) -> None:
        if self._state in ("reconnecting", "disconnected", "failed", "idle", "connecting"):
            return
        connected = any(link.state == "connected" for link in self._links.values()) or bool(
            self._sfu is not None and self._sfu.is_connected
        )
        self._set_state("connected" if connected else "signaling")

    def _report(self, error: WebRTCCallError) -> None:
        self.error = error
        self._emit(ErrorOccurred(error))

    # --- Lifetime -------------------------------------------------------------------------------------------------

    async def __aenter__(self) -> WebRTCCall:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.hangup()

    async def connect(self) -> None:
        """Open the signaling socket and join the room; returns once joined. Raises ``WebRTCCallError`` with the
        server's code when the join is refused (``room-full``, ``room-closed``, ``forbidden``, ...) or
        ``signaling-unreachable`` when no socket opens."""
        if self._active:
            return
        self._active = True
        self._ended.clear()
        self.error = None
        self._set_state("connecting")
        try:
            await self._open_and_join()
        except WebRTCCallError as error:
            await self._finish("failed", error)
            raise

    def update(self, metadata: dict[str, Any] | None = None, media: dict[str, bool] | None = None) -> None:
        """Tell the room our new metadata (replaced whole) or media state (merged key by key): ``update``, an
        extension; the others get ``peer-updated`` (``PeerUpdated``). Sent when the socket is up, else on resume."""
        if metadata is None and media is None:
            raise ValueError("update needs metadata or media")
        message: dict[str, Any] = {"t": "update"}
        if metadata is not None:
            self.metadata = dict(metadata)
            message["metadata"] = self.metadata
        if media is not None:
            message["media"] = dict(media)
        self._send(message)

    async def hangup(self) -> None:
        """Leave the room and close every connection."""
        if not self._active:
            return
        socket = self._socket
        if socket is not None:
            with contextlib.suppress(Exception):
                await socket.send(json.dumps({"t": "leave"}))
        await self._finish("disconnected", None)

    async def wait_closed(self) -> None:
        """Until the call ends (hangup, a final refusal, reconnection given up)."""
        await self._ended.wait()

    async def _finish(self, state: ConnectionState, error: WebRTCCallError | None) -> None:
        self._active = False
        for task in list(self._tasks):
            if task is not asyncio.current_task():
                task.cancel()
        closing = [link.close() for link in self._links.values()]
        if self._sfu is not None:
            closing.append(self._sfu.close())
            self._sfu = None
        for peer_id in list(self._remote_peers):
            self._remove_peer(peer_id, "leave", emit=False)
        if closing:
            await asyncio.gather(*closing, return_exceptions=True)
        socket, self._socket = self._socket, None
        if socket is not None:
            with contextlib.suppress(Exception):
                await socket.close(1000)
        for source in self.sources:
            source.stop()
        self._resume = None
        self._joined.clear()
        if error is not None:
            self._report(error)
        self._set_state(state)
        self._ended.set()
        for queue in self._subscribers:
            queue.put_nowait(None)

    def _spawn(self, coroutine: Any) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # --- The signaling socket -------------------------------------------------------------------------------------

    async def _open_and_join(self) -> None:
        """One socket and one join; raises WebRTCCallError (final or not, see ``_retryable``)."""
        try:
            socket = await within(
                websocket_connect(
                    self.url,
                    additional_headers=self.headers,
                    max_size=2**20,
                    ping_interval=None,
                    open_timeout=self.join_timeout,
                ),
                self.join_timeout,
            )
        except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as error:
            raise WebRTCCallError("signaling-unreachable", f"Could not open {self.url}: {error}") from error
        # Extension: this peer can take part in an SFU room (a server of Agentuity's protocol ignores the field).
        join: dict[str, Any] = {"t": "join", "roomId": self.room_id, "capabilities": ["sfu", "sfu-move"]}
        if self.metadata:
            join["metadata"] = self.metadata
        if self._resume:
            join["resume"] = self._resume
        if self.token:
            join["token"] = self.token
        self._closed_reason = None
        try:
            await socket.send(json.dumps(join))
            while True:
                message = await within(self._next_message(socket), self.join_timeout)
                if message.get("t") == "joined":
                    break
                if message.get("t") == "error":
                    await socket.close(CloseCode.CLIENT_RECONNECTING)
                    raise self._join_refusal(message)
        except TimeoutError as error:
            await socket.close(CloseCode.CLIENT_RECONNECTING)
            raise WebRTCCallError("join-timeout", f"No answer to join within {self.join_timeout:g} s") from error
        except ConnectionClosed as error:
            code = error.rcvd.code if error.rcvd else CloseCode.ABNORMAL
            reason = self._closed_reason or FINAL_CLOSE_CODES.get(code, "signaling-closed")
            raise WebRTCCallError(reason, f"The signaling server closed the socket (code {code})") from error
        self._socket = socket
        await self._on_joined(socket, message)
        self._spawn(self._read(socket))
        self._spawn(self._keep_alive(socket))

    def _join_refusal(self, message: dict[str, Any]) -> WebRTCCallError:
        text = str(message.get("message") or "Signaling error")
        code = message.get("code")
        if not isinstance(code, str):
            # Servers of Agentuity's protocol send no code: their refusals are known by their text.
            code = "room-full" if text.startswith("Room is full") else "error"
        return WebRTCCallError(code, text)

    @staticmethod
    async def _next_message(socket: ClientConnection) -> dict[str, Any]:
        while True:
            raw = await socket.recv()
            if not isinstance(raw, str):
                continue
            try:
                message = json.loads(raw)
            except ValueError:
                continue
            if isinstance(message, dict) and isinstance(message.get("t"), str):
                return message

    async def _read(self, socket: ClientConnection) -> None:
        code = CloseCode.ABNORMAL
        try:
            while True:
                self._on_message(await self._next_message(socket))
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else CloseCode.ABNORMAL
        if socket is self._socket and self._active:
            self._socket = None
            await self._on_socket_closed(code)

    async def _keep_alive(self, socket: ClientConnection) -> None:
        while socket is self._socket:
            await asyncio.sleep(PING_INTERVAL)
            try:
                await within(socket.send(json.dumps({"t": "ping"})), PING_INTERVAL)
            except (ConnectionClosed, TimeoutError):
                # A half-open connection: close it as "reconnecting" so that the server parks us.
                await socket.close(CloseCode.CLIENT_RECONNECTING)
                return

    async def _on_socket_closed(self, code: int) -> None:
        final = FINAL_CLOSE_CODES.get(code)
        if final is not None:
            reason = self._closed_reason or final
            await self._finish(
                "failed", WebRTCCallError(reason, f"The signaling server ended the call ({reason}, close code {code})")
            )
            return
        if not self.auto_reconnect:
            await self._finish(
                "failed", WebRTCCallError("signaling-closed", f"The signaling connection closed (code {code})")
            )
            return
        await self._reconnect(immediately=code == CloseCode.SERVICE_RESTART)

    async def _reconnect(self, immediately: bool) -> None:
        self._set_state("reconnecting")
        for attempt in range(1, self.max_reconnect_attempts + 1):
            self._emit(Reconnecting(attempt))
            await asyncio.sleep(0 if immediately and attempt == 1 else reconnect_delay(attempt))
            if not self._active:
                return
            try:
                await self._open_and_join()
            except WebRTCCallError as error:
                resuming_into_our_own_seat = error.code == "room-full" and self._resume is not None
                if (
                    error.code in RETRYABLE_JOIN_ERRORS
                    or error.code in ("signaling-unreachable", "join-timeout", "signaling-closed")
                    or resuming_into_our_own_seat
                ):
                    self._report(error)
                    continue
                await self._finish("failed", error)
                return
            self._emit(Reconnected())
            return
        await self._finish(
            "failed",
            WebRTCCallError("reconnect-failed", f"Could not reconnect after {self.max_reconnect_attempts} attempts"),
        )

    def _send(self, message: dict[str, Any]) -> None:
        """A message for the room or a peer (``sdp``, ``ice``, ``update``): sent now, or when the socket is back (a
        resume keeps the peer)."""
        socket = self._socket
        if socket is not None:
            self._spawn(self._send_now(socket, message))
        elif len(self._outbox) < MAX_OUTBOX:
            self._outbox.append(message)

    async def _send_now(self, socket: ClientConnection, message: dict[str, Any]) -> None:
        try:
            await socket.send(json.dumps(message))
        except ConnectionClosed:
            if len(self._outbox) < MAX_OUTBOX:
                self._outbox.append(message)

    # --- Signaling messages ---------------------------------------------------------------------------------------

    def _on_message(self, message: dict[str, Any]) -> None:
        kind = message["t"]
        sender = message.get("from")
        if kind == "peer-joined" and isinstance(message.get("peerId"), str):
            self._note_role(message["peerId"], message.get("role"))
            self._note_state(message["peerId"], message.get("metadata"), message.get("media"))
            self._add_peer(message["peerId"])
        elif kind == "peer-updated" and isinstance(message.get("peerId"), str):
            peer_id = message["peerId"]
            metadata, media = self._note_state(peer_id, message.get("metadata"), message.get("media"))
            if peer_id in self._remote_peers and (metadata is not None or media is not None):
                self._emit(PeerUpdated(peer_id, metadata, media))
        elif kind == "peer-left" and isinstance(message.get("peerId"), str):
            self._remove_peer(message["peerId"], str(message.get("reason") or "disconnect"))
        elif kind == "sdp" and isinstance(sender, str) and isinstance(message.get("description"), dict):
            self._link_with(sender).handle_description(message["description"])
        elif kind == "ice" and isinstance(sender, str) and isinstance(message.get("candidate"), dict):
            self._link_with(sender).handle_candidate(message["candidate"])
        elif kind in ("sfu-published", "sfu-subscription", "data"):
            self._on_sfu_message(message)
        elif kind == "sfu-moved" and self._sfu is not None:
            # Extension: the room moved to another SFU node; our connections with the SFU are gone. New ones publish
            # and subscribe again (the frames that follow are theirs); our place in the room is the same.
            old = self._sfu
            # What we send from here on is of the new connections: the server drops what came before this.
            self._send({"t": "sfu-move-taken"})
            self._start_sfu(announce_channels=False)
            self._spawn(old.close())
            self._emit(SfuMoved())
        elif kind == "ice-servers" and isinstance(message.get("iceServers"), list):
            # Extension: fresh TURN credentials, before ours expire.
            self._use_server_ice_servers(message["iceServers"])
        elif kind == "error":
            self._report(self._join_refusal(message))
        elif kind == "closed":
            self._closed_reason = message.get("reason") if isinstance(message.get("reason"), str) else None
        # pong, and message types of newer servers: nothing to do.

    def _on_sfu_message(self, message: dict[str, Any]) -> None:
        """Extensions of SFU rooms: the SFU's answer to our offer, its offer of the others' streams, and data
        relayed by the server."""
        sfu, kind = self._sfu, message["t"]
        if sfu is None:
            return
        description = message.get("description")
        if kind == "sfu-published" and isinstance(description, dict):
            self._spawn(sfu.handle_published(description))
        elif kind == "sfu-subscription" and isinstance(description, dict) and isinstance(message.get("streams"), list):
            self._spawn(sfu.handle_subscription(description, message["streams"], message.get("fresh") is True))
        elif kind == "data" and isinstance(message.get("from"), str) and isinstance(message.get("label"), str):
            data = data_of(message)
            if data is not None:
                self._emit(DataChannelMessage(message["from"], message["label"], data))

    def _start_sfu(self, announce_channels: bool = True) -> None:
        sfu = SfuSession(
            self._ice_servers(),
            self.ice_transport_policy,
            self.sources,
            self.max_buffered_frames,
            SfuEvents(
                signal=self._send,
                on_track=self._on_track,
                on_state=self._update_state,
                on_error=self._report,
            ),
        )
        self._sfu = sfu
        if self.role != "viewer":  # a viewer only receives: the server refuses its sfu-publish
            self._spawn(sfu.publish())
        if not announce_channels:
            return
        for peer_id in self._remote_peers:
            for config in self.channel_configs:
                self._emit(DataChannelOpen(peer_id, config.label))

    def _note_role(self, peer_id: str, role: object) -> None:
        if isinstance(role, str):
            self.roles[peer_id] = role

    def _note_states(self, joined: dict[str, Any]) -> None:
        """Extensions: every member's metadata and media state as of a join (ours too, as the server set it)."""
        metadata, media = joined.get("metadata"), joined.get("media")
        metadata = metadata if isinstance(metadata, dict) else {}
        media = media if isinstance(media, dict) else {}
        for peer_id in {*metadata, *media}:
            self._note_state(str(peer_id), metadata.get(peer_id), media.get(peer_id))

    def _note_state(
        self, peer_id: str, metadata: object, media: object
    ) -> tuple[dict[str, Any] | None, dict[str, bool] | None]:
        """Keep what a frame says of a peer's metadata (replaced whole) and media state (the server sends it
        whole); what was kept, each None when the frame had none (or ours: our own metadata as the server set it)."""
        kept_metadata = dict(metadata) if isinstance(metadata, dict) else None
        kept_media = (
            {key: value for key, value in media.items() if isinstance(value, bool)} if isinstance(media, dict) else None
        )
        if peer_id == self.peer_id:
            if kept_metadata is not None:
                self.metadata = kept_metadata
            return kept_metadata, kept_media
        if kept_metadata is not None:
            self.peer_metadata[peer_id] = kept_metadata
        if kept_media is not None:
            self.peer_media[peer_id] = kept_media
        return kept_metadata, kept_media

    async def _on_joined(self, socket: ClientConnection, message: dict[str, Any]) -> None:
        peers = (
            [p for p in message.get("peers", []) if isinstance(p, str)]
            if isinstance(message.get("peers"), list)
            else []
        )
        resumed = self.peer_id is not None and message.get("peerId") == self.peer_id
        self._resume = message.get("resume") if isinstance(message.get("resume"), str) else None
        ice = message.get("iceServers")
        if resumed and isinstance(ice, list) and ice != self._server_ice_servers:
            self._use_server_ice_servers(ice)  # fresh credentials for the connections that live on
        self._server_ice_servers = ice if isinstance(ice, list) else None
        self.max_peers = message.get("maxPeers") if isinstance(message.get("maxPeers"), int) else None
        roles = message.get("roles")
        if isinstance(roles, dict):
            for peer_id, role in roles.items():
                self._note_role(peer_id, role)
        #: Our own role (extension: ``viewer``, ``recorder``, ``agent``); None for a participant.
        self.role = message.get("role") if isinstance(message.get("role"), str) else None

        if resumed:
            # Same place in the room: our connections live on. Catch up on who came and went meanwhile.
            for peer_id in list(self._remote_peers):
                if peer_id not in peers:
                    self._remove_peer(peer_id, "disconnect")
            self._note_states(message)
            for peer_id in peers:
                self._add_peer(peer_id)
            if message.get("topology") == "sfu" and message.get("sfuSession") != "kept":
                # Extension: the server could not keep our session with the SFU (it had ended it): publish and
                # subscribe anew.
                if self._sfu is not None:
                    await self._sfu.close()
                self._start_sfu()
            waiting, self._outbox = self._outbox, []
            for queued in waiting:
                await socket.send(json.dumps(queued))
        else:
            for peer_id in list(self._remote_peers):
                self._remove_peer(peer_id, "disconnect")
            self._outbox = []
            self.peer_id = str(message["peerId"])
            self._note_states(message)
            if self._sfu is not None:
                await self._sfu.close()
                self._sfu = None
            for peer_id in peers:
                self._add_peer(peer_id)
                if message.get("topology") != "sfu":
                    self._link_with(peer_id, initiator=True)
            if message.get("topology") == "sfu":
                # Extension: the room's media goes through the SFU: two connections with it, none with the peers.
                self._start_sfu()
        self._joined.set()
        self._set_state("signaling")
        self._update_state()
        self._emit(Joined(self.peer_id or "", str(message.get("roomId", self.room_id)), tuple(peers), resumed))

    def _add_peer(self, peer_id: str) -> None:
        if peer_id == self.peer_id or peer_id in self._remote_peers:
            return
        self._remote_peers.append(peer_id)
        self._emit(PeerJoined(peer_id))
        if self._sfu is not None:  # the server relays data: a channel with a peer is open once it is here
            for config in self.channel_configs:
                self._emit(DataChannelOpen(peer_id, config.label))

    def _remove_peer(self, peer_id: str, reason: str, emit: bool = True) -> None:
        if peer_id not in self._remote_peers:
            return
        self._remote_peers.remove(peer_id)
        link = self._links.pop(peer_id, None)
        if link is not None:
            link.close()
        self._feeds.pop(peer_id, None)
        self.roles.pop(peer_id, None)
        self.remote_video_qualities.pop(peer_id, None)
        self.peer_metadata.pop(peer_id, None)
        self.peer_media.pop(peer_id, None)
        if emit:
            self._emit(PeerLeft(peer_id, reason))
            self._update_state()

    def _ice_servers(self) -> list[dict[str, Any]]:
        if self.ice_servers_option is not None:
            return self.ice_servers_option
        # No public STUN server by default: the server's configuration, or none (host candidates only).
        return self._server_ice_servers or []

    def _use_server_ice_servers(self, ice_servers: list[dict[str, Any]]) -> None:
        self._server_ice_servers = ice_servers
        if self.ice_servers_option is not None:
            return  # our own configuration wins
        for link in self._links.values():
            link.use_ice_servers(ice_servers)
        if self._sfu is not None:
            self._sfu.use_ice_servers(ice_servers)

    def _link_with(self, peer_id: str, initiator: bool = False) -> PeerLink:
        existing = self._links.get(peer_id)
        if existing is not None:
            return existing
        self._add_peer(peer_id)
        polite = self.polite_option if self.polite_option is not None else not ((self.peer_id or "") > peer_id)
        link = PeerLink(
            peer_id,
            polite=polite,
            initiator=initiator,
            ice_servers=self._ice_servers(),
            sources=self.sources,
            channels=lambda: self.channel_configs,
            max_buffered=self.max_buffered_frames,
            connection_timeout=self.connection_timeout,
            video_codecs=self.video_codecs,
            ice_transport_policy=self.ice_transport_policy,
            events=LinkEvents(
                signal=self._send,
                on_track=lambda feed: self._on_track(peer_id, feed),
                on_channel_open=lambda label: self._emit(DataChannelOpen(peer_id, label)),
                on_channel_close=lambda label: self._emit(DataChannelClose(peer_id, label)),
                on_channel_message=lambda label, data: self._emit(DataChannelMessage(peer_id, label, data)),
                on_state=lambda state: self._update_state(),
                on_error=self._report,
            ),
        )
        self._links[peer_id] = link
        self._spawn(link.start())
        return link

    def _on_track(self, peer_id: str, feed: TrackFeed) -> None:
        self._feeds.setdefault(peer_id, []).append(feed)
        quality = self.remote_video_qualities.get(peer_id)
        if self._sfu is not None and feed.kind == "video" and quality is not None:
            # A new subscription to the peer's video (a move, its re-publishing): the SFU hears our choice again.
            self._send({"t": "sfu-quality", "peerId": peer_id, "quality": quality})
        self._emit(TrackReceived(peer_id, feed.reader()))

    # --- Media ----------------------------------------------------------------------------------------------------

    def track_receiver(self, peer_id: str, kind: str) -> Any:
        """The aiortc ``RTCRtpReceiver`` of the peer's newest track of ``kind`` (None if none): for programs that
        need the encoded frames (``signaling.peer.recording``)."""
        feeds = [feed for feed in self._feeds.get(peer_id, []) if feed.kind == kind]
        return feeds[-1].receiver if feeds else None

    async def restart_ice(self, peer_id: str) -> bool:
        """Look for a new network path to one peer (done by itself when a path fails); False if no such peer."""
        link = self._links.get(peer_id)
        if link is None:
            return False
        await link.restart_ice()
        return True

    def record(self, peer_id: str, path: str | Path) -> PeerRecording:
        """Write the peer's audio and video to ``path`` until ``await recording.stop()`` or the peer leaves:
        ``.webm`` or ``.mkv`` as received (VP8 and Opus, not encoded again), ``.ogg`` the audio alone, ``.mp4``
        encoded again (H.264 and AAC; about a core for 640x480 at 30 fps)."""
        from signaling.peer.recording import PeerRecording

        return PeerRecording(self, peer_id, Path(path))

    def remote_tracks(self, peer_id: str, kind: str | None = None) -> list[RemoteTrack]:
        """A new reader of each of the peer's tracks (of ``kind``, if given) received so far."""
        return [feed.reader() for feed in self._feeds.get(peer_id, []) if kind in (None, feed.kind)]

    def send_track_to(self, peer_id: str, track: MediaStreamTrack) -> bool:
        """Send ``track`` to one peer only (on top of the call's own tracks); False if there is no such peer."""
        link = self._links.get(peer_id)
        if link is None:
            return False
        link.send_track(SharedSource(track, self.max_buffered_frames))
        return True

    def mute_audio(self, muted: bool = True) -> None:
        for source in self.sources:
            if source.kind == "audio":
                source.muted = muted

    def mute_video(self, muted: bool = True) -> None:
        for source in self.sources:
            if source.kind == "video":
                source.muted = muted

    def set_remote_video_quality(self, peer_id: str, quality: str) -> None:
        """Extension (SFU rooms): which simulcast layer of ``peer_id``'s video this peer receives (``sfu-quality``):
        ``high``, ``medium``, ``low``, or ``off`` (none of it: nothing is relayed, nothing decoded). Kept for the
        peer while it is in the room, and told the SFU again for each new subscription to its video (after a move,
        or its re-publishing). Nothing changes in a mesh room, where each peer sends its one stream. Raises
        ValueError for another quality."""
        if quality not in SFU_QUALITIES:
            raise ValueError(f"quality must be one of {', '.join(SFU_QUALITIES)}, not {quality!r}")
        before = self.remote_video_qualities.get(peer_id)
        self.remote_video_qualities[peer_id] = quality
        receiver = self.track_receiver(peer_id, "video")
        if self._sfu is None or receiver is None:
            return
        self._send({"t": "sfu-quality", "peerId": peer_id, "quality": quality})
        if before == "off" and quality != "off":
            self._spawn(self._ask_for_key_frames(receiver))

    async def _ask_for_key_frames(self, receiver: Any) -> None:
        """A video turned back on comes back mid-stream, its first frames made from frames we never had. A browser
        asks for a key frame by itself; aiortc only once it has failed to decode, which on a busy machine took half
        a minute: ask now, a few times while the SFU turns the video on (it passes the requests to the publisher)."""
        request = key_frame_requester(receiver)
        for delay in (0.2, 0.5, 1.0, 2.0):
            await asyncio.sleep(delay)
            request()

    # --- Data channels --------------------------------------------------------------------------------------------

    def _broadcast(self, label: str, data: str | bytes) -> int:
        if self._sfu is not None:
            return len(self._remote_peers) if self._send_through_server(label, data, None) else 0
        return sum(link.send(label, data) for link in self._links.values())

    def _send_to(self, peer_id: str, label: str, data: str | bytes) -> bool:
        if self._sfu is not None:
            return peer_id in self._remote_peers and self._send_through_server(label, data, peer_id)
        link = self._links.get(peer_id)
        return link is not None and link.send(label, data)

    def _send_through_server(self, label: str, data: str | bytes, to: str | None) -> bool:
        """In an SFU room, data goes through the server (``data`` frames): to ``to`` alone, or to everyone else."""
        if not any(config.label == label for config in self.channel_configs) or self._socket is None:
            return False
        self._send(data_frame(label, data, to))
        return True

    def send_string(self, label: str, text: str) -> int:
        """To every connected peer whose channel ``label`` is open; returns how many it went to."""
        return self._broadcast(label, text)

    def send_string_to(self, peer_id: str, label: str, text: str) -> bool:
        return self._send_to(peer_id, label, text)

    def send_json(self, label: str, value: Any) -> int:
        return self._broadcast(label, json.dumps(value))

    def send_json_to(self, peer_id: str, label: str, value: Any) -> bool:
        return self._send_to(peer_id, label, json.dumps(value))

    def send_binary(self, label: str, data: bytes | bytearray | memoryview) -> int:
        return self._broadcast(label, bytes(data))

    def send_binary_to(self, peer_id: str, label: str, data: bytes | bytearray | memoryview) -> bool:
        return self._send_to(peer_id, label, bytes(data))

    def create_data_channel(self, config: str | DataChannelConfig) -> None:
        """Open a channel of this label with every peer (now and later)."""
        config = DataChannelConfig(config) if isinstance(config, str) else config
        if any(known.label == config.label for known in self.channel_configs):
            return
        self.channel_configs.append(config)
        for link in self._links.values():
            link.open_channel(config)

    def get_data_channel_labels(self) -> list[str]:
        return [config.label for config in self.channel_configs]

    def close_data_channel(self, label: str) -> bool:
        before = len(self.channel_configs)
        self.channel_configs = [c for c in self.channel_configs if c.label != label]
        closed = [link.close_channel(label) for link in self._links.values()]
        return before != len(self.channel_configs) or any(closed)
