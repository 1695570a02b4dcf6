"""A deadline for a connection's request head, under daphne.

Until a connection's request is complete, daphne leaves it to Twisted's idle timeout: 12 hours, reset by every
byte that arrives. A client that trickles a header line now and then holds its socket and a file descriptor for
as long as it likes (60 clients trickling a line every 20 s: none dropped in 66 s), before any limit of ours can
see it: the consumer's admission counts WebSockets, which begin once the head is in. Here every connection daphne
accepts has ``SIGNALING["HANDSHAKE_TIMEOUT"]`` seconds from connecting to send its whole request head (the
WebSocket upgrade's included; daphne ends a connection after its response), or it is dropped and counted
(``signaling_handshake_timeouts_total``). A WebSocket's life after its upgrade has limits of its own.

``install()`` puts it on daphne's ``HTTPFactory``, from the app's ``ready()``: daphne loads the application before
it builds any connection's protocol. The upstream change is the same deadline in daphne's ``HTTPFactory``
(Twisted's ``HTTPChannel`` has only the idle timeout). Behind nginx, its ``client_header_timeout`` comes first.
"""

from __future__ import annotations

import logging
from typing import Any

from signaling import metrics
from signaling.conf import conf

logger = logging.getLogger(__name__)


def install() -> bool:
    """Give every connection daphne builds from now on a deadline for its request head; False without daphne."""
    try:
        from daphne.http_protocol import HTTPFactory
    except ImportError:
        return False
    if getattr(HTTPFactory, "_signaling_head_deadline", False):
        return True
    build = HTTPFactory.buildProtocol

    def build_protocol(factory: Any, address: Any) -> Any:
        protocol = build(factory, address)
        if protocol is not None:
            # Twisted's factory wraps the HTTPChannel (which may become HTTP/2's after TLS's ALPN): the deadline
            # goes on the HTTP/1.1 channel, whose methods call one another on it.
            HeadDeadline(getattr(protocol, "_channel", protocol), conf.HANDSHAKE_TIMEOUT)
        return protocol

    HTTPFactory.buildProtocol = build_protocol
    HTTPFactory._signaling_head_deadline = True
    return True


class HeadDeadline:
    """The deadline of one Twisted ``HTTPChannel``: armed when it connects, gone when its request head is complete
    (or it closed), and the connection dropped when it passes. Daphne ends a connection after its response, so a
    connection has one request head to send."""

    __slots__ = ("_call", "_protocol", "_seconds")

    #: The channel's methods wrapped on the instance (Twisted calls them as ``self.<name>()``), until the head is in.
    WRAPPED = ("connectionMade", "allHeadersReceived", "connectionLost")

    def __init__(self, protocol: Any, seconds: float) -> None:
        self._protocol = protocol
        self._seconds = seconds
        self._call: Any = None
        made, headers, lost = (getattr(protocol, name) for name in self.WRAPPED)

        def connection_made() -> None:
            made()
            self.arm()

        def all_headers_received() -> None:
            self.done()
            headers()

        def connection_lost(reason: Any) -> None:
            self.done()
            lost(reason)

        protocol.connectionMade = connection_made
        protocol.allHeadersReceived = all_headers_received
        protocol.connectionLost = connection_lost

    def arm(self) -> None:
        from twisted.internet import reactor

        clock: Any = reactor
        self._call = clock.callLater(self._seconds, self.expire)

    def done(self) -> None:
        """The head is in, or the connection is gone: no deadline, and nothing of it kept on the channel (a
        WebSocket's channel lives as long as the socket)."""
        call, self._call = self._call, None
        if call is not None and call.active():
            call.cancel()
        for name in self.WRAPPED:
            self._protocol.__dict__.pop(name, None)

    def expire(self) -> None:
        self._call = None
        transport = getattr(self._protocol, "transport", None)
        if transport is None:
            return
        metrics.HANDSHAKE_TIMEOUTS.inc()
        # Debug only: under an attack this is every connection (the counter says how many).
        logger.debug("Dropping a connection that sent no whole request head in %s s", self._seconds)
        transport.abortConnection()
