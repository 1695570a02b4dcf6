"""Lifecycle events, the consumer's callbacks, and their ordered delivery off the relay path.

The consumer answers its client first and then *emits* an event; a background task per event loop runs the
callbacks and sends the Django signal, one event after another in the order they were emitted. A slow callback
or database write therefore delays later events, never a relayed message or a ``joined`` reply.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, ClassVar

from asgiref.sync import iscoroutinefunction
from channels.db import database_sync_to_async
from django.dispatch import Signal

from signaling import signals

logger = logging.getLogger(__name__)

Callback = Callable[..., Any]


@dataclass(frozen=True, slots=True)
class Callbacks:
    """Agentuity's server callbacks, each sync or async; a sync one runs in a worker thread and may use the ORM."""

    on_room_created: Callback | None = None  # (room_id)
    on_peer_join: Callback | None = None  # (peer_id, room_id)
    on_peer_leave: Callback | None = None  # (peer_id, room_id, reason)
    on_room_destroyed: Callback | None = None  # (room_id)
    on_message: Callback | None = None  # (kind, from_peer, to_peer, room_id)
    on_error: Callback | None = None  # (error, peer_id, room_id)

    @classmethod
    def coerce(cls, value: Callbacks | Mapping[str, Callback | None] | None) -> Callbacks:
        """Accept a ``Callbacks``, a dict of the same names, or None; reject unknown names and non-callables."""
        if value is None:
            return cls()
        if isinstance(value, Callbacks):
            return value
        if not isinstance(value, Mapping):
            raise TypeError(f"callbacks must be a Callbacks or a dict, not {type(value).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(value) - known)
        if unknown:
            raise TypeError(f"Unknown callbacks {unknown}; expected some of {sorted(known)}")
        for name, fn in value.items():
            if fn is not None and not callable(fn):
                raise TypeError(f"Callback {name!r} is not callable")
        return cls(**value)


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened in a room; its fields are the keyword arguments of its signal."""

    signal: ClassVar[Signal]
    callback: ClassVar[str | None] = None

    def callback_args(self) -> tuple[Any, ...]:
        return ()

    def signal_kwargs(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class RoomCreated(Event):
    signal = signals.room_created
    callback = "on_room_created"
    room_id: str
    at: datetime

    def callback_args(self) -> tuple[Any, ...]:
        return (self.room_id,)


@dataclass(frozen=True, slots=True)
class RoomDestroyed(Event):
    signal = signals.room_destroyed
    callback = "on_room_destroyed"
    room_id: str
    at: datetime

    def callback_args(self) -> tuple[Any, ...]:
        return (self.room_id,)


@dataclass(frozen=True, slots=True)
class PeerJoined(Event):
    signal = signals.peer_joined
    callback = "on_peer_join"
    room_id: str
    peer_id: str
    at: datetime
    user_id: Any
    client_address: str | None
    user_agent: str
    #: The name the peer goes by (its metadata's ``name``; "" when it gave none).
    display_name: str = ""

    def callback_args(self) -> tuple[Any, ...]:
        return (self.peer_id, self.room_id)


@dataclass(frozen=True, slots=True)
class PeerUpdated(Event):
    """A member changed its metadata (``update.metadata``); media state changes are not events."""

    signal = signals.peer_updated
    room_id: str
    peer_id: str
    at: datetime
    metadata: dict[str, Any]
    display_name: str


@dataclass(frozen=True, slots=True)
class PeerPathReported(Event):
    """A member's client says how its connection to ``remote_id`` goes: through a TURN relay or direct."""

    signal = signals.peer_path
    room_id: str
    peer_id: str
    remote_id: str
    relay: bool
    protocol: str
    at: datetime


@dataclass(frozen=True, slots=True)
class SfuMediaChanged(Event):
    """Janus said something about one of a peer's connections with the SFU (media up or lost, slow link, hang-up)."""

    signal = signals.sfu_media
    room_id: str
    peer_id: str
    connection: str
    kind: str
    media: str
    detail: dict[str, Any]
    at: datetime


@dataclass(frozen=True, slots=True)
class ConnectionReported(Event):
    """A client sent the results of its connection test (``connection-report``), outside any room."""

    signal = signals.connection_reported
    report_id: str
    checks: list[dict[str, Any]]
    ok: bool
    user_id: Any
    session_key: str
    client_address: str | None
    user_agent: str
    at: datetime


@dataclass(frozen=True, slots=True)
class PeerLeft(Event):
    signal = signals.peer_left
    callback = "on_peer_leave"
    room_id: str
    peer_id: str
    reason: str
    at: datetime

    def callback_args(self) -> tuple[Any, ...]:
        return (self.peer_id, self.room_id, self.reason)


@dataclass(frozen=True, slots=True)
class JoinRejected(Event):
    signal = signals.join_rejected
    room_id: Any
    code: str
    message: str
    at: datetime
    user_id: Any
    client_address: str | None


@dataclass(frozen=True, slots=True)
class MessageRelayed(Event):
    signal = signals.message_relayed
    callback = "on_message"
    kind: str
    from_peer: str
    to_peer: str | None
    room_id: str
    at: datetime

    def callback_args(self) -> tuple[Any, ...]:
        return (self.kind, self.from_peer, self.to_peer, self.room_id)


@dataclass(frozen=True, slots=True)
class ErrorRaised(Event):
    signal = signals.signaling_error
    callback = "on_error"
    error: Exception
    peer_id: str | None
    room_id: str | None
    at: datetime

    def callback_args(self) -> tuple[Any, ...]:
        return (self.error, self.peer_id, self.room_id)


class EventDispatcher:
    """Delivers emitted events in order from a background task that lives while there is work."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[tuple[Event, Callbacks, type]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def emit(self, event: Event, callbacks: Callbacks, sender: type) -> None:
        """Queue ``event``; never blocks and never raises on behalf of a callback or receiver."""
        self._queue.put_nowait((event, callbacks, sender))
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def drain(self) -> None:
        """Wait until every event emitted so far has been handled."""
        await self._queue.join()

    async def _run(self) -> None:
        # Exits when the queue is empty; emit() starts a new task, and with no await between the last
        # empty() and the return, no event can slip in unseen.
        while not self._queue.empty():
            event, callbacks, sender = self._queue.get_nowait()
            try:
                await _run_callback(event, callbacks)
                await _send_signal(event, sender)
            finally:
                self._queue.task_done()


async def _run_callback(event: Event, callbacks: Callbacks) -> None:
    if event.callback is None:
        return
    fn = getattr(callbacks, event.callback)
    if fn is None:
        return
    try:
        if iscoroutinefunction(fn):
            await fn(*event.callback_args())
        else:
            await database_sync_to_async(fn)(*event.callback_args())
    except Exception:
        logger.exception("Signaling callback %s raised", event.callback)


async def _send_signal(event: Event, sender: type) -> None:
    for receiver_fn, response in await event.signal.asend_robust(sender, **event.signal_kwargs()):
        if isinstance(response, Exception):
            logger.error("Receiver %r of %s raised", receiver_fn, type(event).__name__, exc_info=response)


_dispatchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, EventDispatcher] = weakref.WeakKeyDictionary()


def get_dispatcher() -> EventDispatcher:
    """The dispatcher of the running event loop."""
    loop = asyncio.get_running_loop()
    dispatcher = _dispatchers.get(loop)
    if dispatcher is None:
        dispatcher = _dispatchers[loop] = EventDispatcher()
    return dispatcher
