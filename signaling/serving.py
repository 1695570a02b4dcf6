"""What each WebSocket costs in the server that serves the endpoint (daphne, and Autobahn under it), cut where it
is not ours to pay: measured with ``python -m bench.profile`` (docs/benchmarks.md, "Where a join and an idle peer
go"), installed from the app's ``ready()`` (daphne loads the application before it serves anything), and switched
off with ``SIGNALING["TUNE_SERVER"] = False``. Each is the local form of a change that belongs upstream:

- Autobahn copies every protocol option (29) from its factory into each connection's own ``__dict__``, and
  pretty-prints them all for a debug line whether or not debug logging is on: a quarter of the worker's busy
  time in a join, and kilobytes per idle socket. Here each factory's connections are of a subclass that carries
  the factory's options as class attributes (Autobahn then copies none: it copies only what a connection
  lacks), and the debug line's text is made only if it is logged. Upstream: read the options from the factory,
  and defer the formatting to the logger.
- Autobahn's log lines colour the names they mention (``click.style``) as it builds them, logged or not: plain
  names here. Upstream: the same deferral.
- Daphne gives each connection an ``asyncio.Queue`` for what its application receives: four deques, 3 KB, for
  a queue that one task reads and nothing bounds. Here it is an ``InputQueue``: the messages (a deque made while
  some wait), and the readers' wake-ups. Upstream: the same queue in daphne's ``Server.create_application``.
"""

from __future__ import annotations

import asyncio
import collections
import pprint
import types
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class InputQueue(Generic[T]):
    """An unbounded queue for what an ASGI application receives: ``put_nowait()`` and ``get()`` as
    ``asyncio.Queue``'s, in order; a message put while its reader is being cancelled stays for the next ``get()``.
    Made for one reader (daphne's), and correct with several; what it holds is made only while it is used."""

    __slots__ = ("_items", "_readers")

    def __init__(self) -> None:
        self._items: collections.deque[T] | None = None
        #: The readers waiting, each woken by a message (a list, not a deque: one reader is the rule).
        self._readers: list[asyncio.Future[None]] | None = None

    def put_nowait(self, item: T) -> None:
        if self._items is None:
            self._items = collections.deque()
        self._items.append(item)
        self._wake_one()

    async def get(self) -> T:
        while not self._items:
            # The message is taken only once the reader runs again: one cancelled meanwhile leaves it queued.
            reader = asyncio.get_running_loop().create_future()
            if self._readers is None:
                self._readers = []
            self._readers.append(reader)
            try:
                await reader
            except asyncio.CancelledError:
                if self._items and reader.done() and not reader.cancelled():
                    self._wake_one()  # it was woken for a message it will not take: the next reader takes it
                raise
            finally:
                if self._readers is not None and reader in self._readers:
                    self._readers.remove(reader)
                if not self._readers:
                    self._readers = None
        item = self._items.popleft()
        if not self._items:
            self._items = None  # an idle connection holds no deque
        return item

    def _wake_one(self) -> None:
        while self._readers:
            reader = self._readers.pop(0)
            if not reader.done():
                reader.set_result(None)
                return

    def qsize(self) -> int:
        return len(self._items) if self._items else 0

    def empty(self) -> bool:
        return not self._items


class DeferredFormat:
    """``pprint.pformat(value)``, made only if a log line that holds it is formatted."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __str__(self) -> str:
        return pprint.pformat(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


def install(enabled: bool = True) -> bool:
    """Tune daphne's and Autobahn's connections (what this module's docstring says); False without daphne, or
    when ``enabled`` is false."""
    if not enabled:
        return False
    try:
        import autobahn.util
        import autobahn.websocket.protocol
        import daphne.server
        from daphne.ws_protocol import WebSocketFactory
    except ImportError:
        return False
    if getattr(WebSocketFactory, "_signaling_tuned", False):
        return True
    autobahn.websocket.protocol.pformat = DeferredFormat  # type: ignore[attr-defined,assignment]
    autobahn.util._HAS_CLICK = False
    daphne.server.asyncio = _asyncio_with(InputQueue)
    build = WebSocketFactory.buildProtocol

    def build_protocol(factory: Any, address: Any) -> Any:
        factory.protocol = protocol_with_options_of(factory)
        return build(factory, address)

    WebSocketFactory.buildProtocol = build_protocol
    WebSocketFactory._signaling_tuned = True
    return True


def protocol_with_options_of(factory: Any) -> type:
    """The factory's protocol class, as a subclass that carries the factory's options (as they are now): made on
    the factory's first connection, and again if its protocol class was changed since."""
    protocol: type = factory.protocol
    if getattr(protocol, "_signaling_options_of", None) is factory:
        return protocol
    names: list[str] = getattr(protocol, "CONFIG_ATTRS", [])
    # A function among them (perMessageCompressionAccept) is an option's value, not a method of the connection.
    options = {
        name: staticmethod(value) if isinstance(value, types.FunctionType) else value
        for name in names
        if not hasattr(protocol, name)
        for value in [getattr(factory, name)]
    }
    namespace = {**options, "_signaling_options_of": factory, "__module__": protocol.__module__}
    return type(protocol.__name__, (protocol,), namespace)


def _asyncio_with(queue: type) -> types.ModuleType:
    """``asyncio`` as daphne's server module sees it: the same, but for ``Queue``."""

    class AsyncioWithInputQueue(types.ModuleType):
        def __getattr__(self, name: str) -> Any:
            return getattr(asyncio, name)

    module = AsyncioWithInputQueue("asyncio")
    module.Queue = queue  # type: ignore[attr-defined]
    return module
