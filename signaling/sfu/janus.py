"""A client of Janus Gateway's API over its WebSocket transport (``janus-protocol``), as the signaling workers use it.

Only the workers talk to Janus: browsers never reach its API. One ``JanusConnection`` per worker carries every
request, matched to its answer by transaction; a ``JanusSession`` is kept alive with keepalives (Janus drops a
session it has not heard from in its ``session_timeout``), and a ``JanusHandle`` is one attachment to a plugin (the
VideoRoom), which answers a request at once (``success``) or, for the requests that take a while (``join``,
``configure``, ``start``), with an ``ack`` and later an ``event`` of the same transaction.

Events Janus sends on its own (a publisher came or went, media up, slow link, hang-up) are handed to the handle's
``on_event``. A session outlives the connection it was made on: after a reconnect, ``claim`` takes it back (Janus
keeps it for its ``reclaim_session_timeout``), which is how a peer's media goes on through a worker's restart.

The messages are Janus's own (https://janus.conf.meetecho.com/docs/rest.html): typed here as ``JanusRequest`` and
``JanusReply``; the VideoRoom's bodies are in ``signaling.sfu.videoroom``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from signaling.timeouts import within

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection

# websockets (the sfu extra) is imported where a connection to Janus is made: a site without SFU rooms needs none.

logger = logging.getLogger(__name__)

#: Seconds a request waits for Janus's answer.
REQUEST_TIMEOUT = 10.0
#: Seconds between a session's keepalives: well inside Janus's default session_timeout (60 s).
KEEPALIVE_INTERVAL = 15.0
VIDEOROOM = "janus.plugin.videoroom"
#: Janus's error code for a session it does not have (janus.h: JANUS_ERROR_SESSION_NOT_FOUND).
NO_SUCH_SESSION = 458


class JanusError(Exception):
    """Janus refused a request: ``code`` and ``reason`` are Janus's (or its plugin's ``error_code``/``error``)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"Janus error {code}: {reason}")
        self.code = code
        self.reason = reason


class JanusUnavailable(Exception):
    """Janus cannot be reached, or stopped answering."""


@dataclass(frozen=True, slots=True)
class JanusReply:
    """One message from Janus: ``kind`` is its ``janus`` field (``success``, ``event``, ``webrtcup``, ...)."""

    kind: str
    session_id: int | None
    handle_id: int | None
    #: ``data`` of a core reply (``{"id": ...}`` for create and attach).
    data: Mapping[str, Any]
    #: The plugin's answer or event (``plugindata.data``).
    plugin: Mapping[str, Any]
    jsep: Mapping[str, Any] | None
    raw: Mapping[str, Any]

    @classmethod
    def of(cls, message: Mapping[str, Any]) -> JanusReply:
        plugindata = message.get("plugindata")
        plugin = plugindata.get("data") if isinstance(plugindata, Mapping) else None
        jsep, data = message.get("jsep"), message.get("data")
        session_id, handle_id = message.get("session_id"), message.get("sender", message.get("handle_id"))
        return cls(
            kind=str(message.get("janus", "")),
            session_id=session_id if isinstance(session_id, int) else None,
            handle_id=handle_id if isinstance(handle_id, int) else None,
            data=data if isinstance(data, Mapping) else {},
            plugin=plugin if isinstance(plugin, Mapping) else {},
            jsep=jsep if isinstance(jsep, Mapping) else None,
            raw=message,
        )

    def raise_for_error(self) -> JanusReply:
        """This reply, or the ``JanusError`` it carries (a core error, or the plugin's)."""
        if self.kind == "error":
            error = self.raw.get("error") or {}
            raise JanusError(int(error.get("code", 0)), str(error.get("reason", "unknown error")))
        if "error_code" in self.plugin:
            raise JanusError(int(self.plugin["error_code"]), str(self.plugin.get("error", "plugin error")))
        return self


EventCallback = Callable[[JanusReply], Awaitable[None] | None]


@dataclass
class _Pending:
    future: asyncio.Future[JanusReply]
    #: Whether an ``ack`` only says Janus took the request, and the answer comes as an ``event``.
    asynchronous: bool


class JanusConnection:
    """The worker's one socket to Janus's WebSocket transport; requests are matched to answers by transaction."""

    def __init__(self, url: str, api_secret: str | None = None) -> None:
        self.url = url
        self.api_secret = api_secret
        self._socket: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[str, _Pending] = {}
        self._handles: dict[int, JanusHandle] = {}
        self._connecting = asyncio.Lock()
        #: How many sockets to Janus this connection has opened: a session made on an earlier one may be gone (a
        #: Janus that restarted has none of them), and is only claimed back deliberately.
        self.generation = 0

    @property
    def closed(self) -> bool:
        """Whether no socket to Janus is open (none yet, or it was lost: the sessions made on it are gone)."""
        return self._socket is None

    async def connect(self, answer_within: float = REQUEST_TIMEOUT) -> None:
        async with self._connecting:
            if self._socket is not None:
                return
            try:
                import websockets
            except ImportError:
                raise JanusUnavailable("websockets is not installed: pip install 'django-rtc-signaling[sfu]'") from None
            try:
                self._socket = await within(
                    websockets.connect(self.url, subprotocols=[websockets.Subprotocol("janus-protocol")]),
                    answer_within,
                )
            except (OSError, TimeoutError, websockets.WebSocketException) as error:
                raise JanusUnavailable(f"cannot reach Janus at {self.url}: {error}") from None
            self.generation += 1
            self._reader = asyncio.ensure_future(self._read(self._socket))

    async def close(self) -> None:
        socket, self._socket = self._socket, None
        if socket is not None:
            await socket.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        self._fail_pending(JanusUnavailable("the connection to Janus was closed"))

    async def request(
        self, message: dict[str, Any], *, asynchronous: bool = False, answer_within: float | None = None
    ) -> JanusReply:
        """Send one request and wait for its answer (``success``, or for ``asynchronous`` the ``event`` after the
        ``ack``); raise ``JanusError`` when Janus refuses it, ``JanusUnavailable`` when it does not answer (in
        ``answer_within`` seconds, by default ``REQUEST_TIMEOUT``)."""
        timeout = REQUEST_TIMEOUT if answer_within is None else answer_within
        await self.connect(timeout)
        socket = self._socket
        if socket is None:
            raise JanusUnavailable("not connected to Janus")
        from websockets import ConnectionClosed

        transaction = secrets.token_urlsafe(12)
        message = {**message, "transaction": transaction}
        if self.api_secret is not None:
            message["apisecret"] = self.api_secret
        future: asyncio.Future[JanusReply] = asyncio.get_running_loop().create_future()
        self._pending[transaction] = _Pending(future, asynchronous)
        try:
            await socket.send(json.dumps(message))
            # The answer comes through the reader task; a request whose answer never comes is given up on.
            reply = await within(future, timeout)
        except TimeoutError:
            raise JanusUnavailable(f"Janus did not answer {message.get('janus')!r} in {timeout} s") from None
        except ConnectionClosed:
            raise JanusUnavailable("the connection to Janus closed") from None
        finally:
            self._pending.pop(transaction, None)
        return reply.raise_for_error()

    async def create_session(self) -> JanusSession:
        reply = await self.request({"janus": "create"})
        return JanusSession(self, int(reply.data["id"]))

    async def claim_session(self, session_id: int) -> JanusSession:
        """Take back a session made on another connection (a worker that stopped), within Janus's reclaim time."""
        await self.request({"janus": "claim", "session_id": session_id})
        return JanusSession(self, session_id)

    def register(self, handle: JanusHandle) -> None:
        self._handles[handle.handle_id] = handle

    def unregister(self, handle_id: int) -> None:
        self._handles.pop(handle_id, None)

    async def _read(self, socket: ClientConnection) -> None:
        from websockets import ConnectionClosed

        try:
            async for text in socket:
                try:
                    message = json.loads(text)
                except ValueError:
                    logger.warning("Janus sent a message that is not JSON: %.200r", text)
                    continue
                if isinstance(message, dict):
                    await self._dispatch(JanusReply.of(message))
        except ConnectionClosed:
            pass
        finally:
            if self._socket is socket:
                self._socket = None
            self._fail_pending(JanusUnavailable("the connection to Janus was lost"))
            for handle in list(self._handles.values()):
                await handle.deliver(JanusReply.of({"janus": "disconnected"}))

    async def _dispatch(self, reply: JanusReply) -> None:
        transaction = reply.raw.get("transaction")
        pending = self._pending.get(transaction) if isinstance(transaction, str) else None
        if pending is not None and not pending.future.done():
            if reply.kind == "ack" and pending.asynchronous:
                return  # taken; the answer follows as an event of the same transaction
            # Anything else of its transaction answers it: success, error, an event, server_info.
            pending.future.set_result(reply)
            return
        handle = self._handles.get(reply.handle_id) if reply.handle_id is not None else None
        if handle is not None:
            await handle.deliver(reply)
        elif reply.kind not in ("ack", "success"):
            logger.debug("Janus event for no handle of ours: %.300r", reply.raw)

    def _fail_pending(self, error: Exception) -> None:
        for pending in self._pending.values():
            if not pending.future.done():
                pending.future.set_exception(error)


@dataclass
class JanusSession:
    """One Janus session: the handles of one peer (its publisher and its subscriber), kept alive while open."""

    connection: JanusConnection
    session_id: int
    _keepalive: asyncio.Task[None] | None = field(default=None, repr=False)

    def keep_alive(self, interval: float = KEEPALIVE_INTERVAL) -> None:
        if self._keepalive is None:
            self._keepalive = asyncio.ensure_future(self._keep_alive(interval))

    async def _keep_alive(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.connection.request({"janus": "keepalive", "session_id": self.session_id})
            except JanusError as error:
                logger.warning("Keepalive of Janus session %d failed: %s", self.session_id, error)
                if error.code == NO_SUCH_SESSION:
                    self._keepalive = None
                    return  # Janus ended it (its timeout, or a restart): there is nothing to keep alive
            except JanusUnavailable as error:
                # The node is gone (its session with it) or does not answer: whoever holds the session is told by
                # its handles' events (a lost connection) or by the health checks, and makes a new one.
                logger.info("Keepalives of Janus session %d stop: %s", self.session_id, error)
                self._keepalive = None
                return

    async def attach(
        self, plugin: str = VIDEOROOM, on_event: EventCallback | None = None, opaque_id: str | None = None
    ) -> JanusHandle:
        """A new handle on ``plugin``; ``opaque_id`` names it in Janus's events (``janus_events.handle_label``)."""
        body: dict[str, Any] = {"janus": "attach", "session_id": self.session_id, "plugin": plugin}
        if opaque_id is not None:
            body["opaque_id"] = opaque_id
        reply = await self.connection.request(body)
        return self.handle(int(reply.data["id"]), on_event)

    def handle(self, handle_id: int, on_event: EventCallback | None = None) -> JanusHandle:
        """A handle this session has already (attached through another connection, before a claim)."""
        handle = JanusHandle(self, handle_id, on_event)
        self.connection.register(handle)
        return handle

    def stop_keepalive(self) -> None:
        if self._keepalive is not None:
            self._keepalive.cancel()
            self._keepalive = None

    async def destroy(self) -> None:
        """End the session (Janus detaches its handles and hangs up their connections)."""
        self.stop_keepalive()
        with contextlib.suppress(JanusError, JanusUnavailable):
            await self.connection.request({"janus": "destroy", "session_id": self.session_id})


@dataclass
class JanusHandle:
    """One attachment of a session to a plugin."""

    session: JanusSession
    handle_id: int
    on_event: EventCallback | None = None

    async def message(
        self, body: Mapping[str, Any], jsep: Mapping[str, Any] | None = None, *, asynchronous: bool = False
    ) -> JanusReply:
        request: dict[str, Any] = {
            "janus": "message",
            "session_id": self.session.session_id,
            "handle_id": self.handle_id,
            "body": dict(body),
        }
        if jsep is not None:
            request["jsep"] = dict(jsep)
        return await self.session.connection.request(request, asynchronous=asynchronous)

    async def trickle(self, candidate: Mapping[str, Any] | None) -> None:
        """Hand Janus one ICE candidate of the browser's (None: the browser has gathered them all)."""
        request: dict[str, Any] = {
            "janus": "trickle",
            "session_id": self.session.session_id,
            "handle_id": self.handle_id,
            "candidate": dict(candidate) if candidate is not None else {"completed": True},
        }
        await self.session.connection.request(request)

    async def detach(self) -> None:
        self.session.connection.unregister(self.handle_id)
        with contextlib.suppress(JanusError, JanusUnavailable):
            await self.session.connection.request(
                {"janus": "detach", "session_id": self.session.session_id, "handle_id": self.handle_id}
            )

    async def deliver(self, reply: JanusReply) -> None:
        if self.on_event is None:
            return
        outcome = self.on_event(reply)
        if outcome is not None:
            await outcome
