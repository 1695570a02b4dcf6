"""What the consumer can learn about its socket from the server that holds it.

ASGI gives an application no backpressure: under daphne, ``send()`` returns as soon as the frame sits in
Twisted's write buffer, whether or not the client ever reads it. A client that stops reading (or is on a very slow
link) would make that buffer grow without bound. Daphne passes each connection a ``send`` bound to its protocol,
so where that is the case the consumer can read how many bytes still wait for the client and cut a reader that
falls too far behind. Under another server ``outbound_meter`` returns None and only the frame-size and rate limits
apply.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

try:
    from autobahn.exception import Disconnected as SocketClosed
except ImportError:  # served by something other than daphne
    SocketClosed = ConnectionError  # type: ignore[assignment,misc]

logger = logging.getLogger(__name__)

__all__ = ["SocketClosed", "SocketControl", "socket_control"]


class SocketControl:
    """The server-side handle of one daphne WebSocket: its unsent bytes, and a way to drop it at once."""

    __slots__ = ("_protocol", "_transport")

    def __init__(self, protocol: Any, transport: Any) -> None:
        self._protocol = protocol
        self._transport = transport

    def buffered_bytes(self) -> int:
        """Bytes written to the socket that the client has not taken yet (Twisted's write buffer)."""
        transport = self._transport
        return int(len(transport.dataBuffer) - transport.offset + transport._tempDataLen)

    def close(self, code: int) -> None:
        """Start the closing handshake with ``code``. Autobahn's own ``sendClose`` (what daphne calls for an ASGI
        ``websocket.close``) refuses the standard server codes 1011-1014 (it allows 1000 and 3000-4999 only); the
        frame itself is what the protocol sends for 1011 on an application error, and carries any code."""
        self._protocol.sendCloseFrame(code=code, isReply=False)

    def abort(self) -> None:
        """Drop the TCP connection now, discarding what waits in the buffer: no closing handshake with a client
        that does not read. The server then reports the disconnect to the application as usual."""
        try:
            self._protocol.dropConnection(abort=True)
        except Exception:  # the connection may be gone already
            logger.debug("Dropping a connection failed", exc_info=True)


def stop_accepting() -> int:
    """Close the server's listening sockets (daphne on Twisted) so that new connections go to other workers (a
    proxy's next upstream); returns how many closed. The connections open now are not touched."""
    try:
        from twisted.internet import reactor, tcp
    except ImportError:
        return 0
    readers: Any = reactor
    ports: list[Any] = [reader for reader in readers.getReaders() if isinstance(reader, tcp.Port)]
    for port in ports:
        port.stopListening()
    return len(ports)


#: How many wrappers deep (channels' session middleware, say) the server's own send is looked for.
MAX_WRAPPERS = 8


def server_send(send: Callable[..., Any]) -> Callable[..., Any]:
    """The server's own ``send`` behind middleware wrappers that keep it as ``real_send`` (channels' sessions) or
    ``__wrapped__``."""
    for _ in range(MAX_WRAPPERS):
        if isinstance(send, functools.partial):
            return send
        owner = getattr(send, "__self__", None)
        inner = getattr(owner, "real_send", None) or getattr(send, "__wrapped__", None)
        if inner is None:
            return send
        send = inner
    return send


def socket_control(send: Callable[..., Any]) -> SocketControl | None:
    """The handle of the socket behind an ASGI ``send``, when the server is daphne on a plain TCP transport."""
    send = server_send(send)
    if not isinstance(send, functools.partial) or not send.args:
        return None
    protocol = send.args[0]
    transport = getattr(protocol, "transport", None)
    if (
        transport is None
        or not all(hasattr(transport, name) for name in ("dataBuffer", "offset", "_tempDataLen"))
        or not hasattr(protocol, "dropConnection")
    ):
        return None
    return SocketControl(protocol, transport)
