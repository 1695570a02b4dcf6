"""Graceful drain: what a worker does on SIGTERM (systemd, Kubernetes and rolling deploys send it) before it exits.

1. It reports itself not ready (``/readyz`` 503) and stops accepting connections, so that nginx (``proxy_next_upstream
   error``) and orchestrators send new ones to other workers.
2. Each of its sockets' peers is parked (with the Redis registry: in Redis, where any worker can resume it) and the
   socket is closed with 1012 (service restart): the browser client reconnects at once with its ``resume`` token and
   takes its place back on a live worker under the same id; the room sees nothing. With the in-process registry
   nothing outlives the process: the peers leave and their clients join again.
3. It sends ``signals.worker_stopping`` (the rooms app flushes its lifecycle log), takes its registration out of
   Redis, and lets the server stop (daphne then has no application left to cancel).

All of it within ``SIGNALING["DRAIN_SECONDS"]``. Only a process served by daphne installs the handler (the first
socket does it); ``drain()`` can also be awaited directly.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import weakref
from collections.abc import Callable
from types import FrameType
from typing import Any, Protocol

from signaling.background import in_background
from signaling.timeouts import within

logger = logging.getLogger(__name__)

_draining = False
_installed = False
_connections: weakref.WeakSet[Any] = weakref.WeakSet()


class Drainable(Protocol):
    async def drain(self) -> None:
        """Park this connection's peer and close its socket with 1012."""

    @property
    def finished(self) -> asyncio.Event: ...

    @property
    def is_open(self) -> bool:
        """Whether the socket is still there to close."""
        ...

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the connection runs on."""
        ...


def is_draining() -> bool:
    return _draining


def start_draining() -> None:
    global _draining
    _draining = True


def stop_draining() -> None:
    """For tests, and for a worker that was told to drain and then to go on."""
    global _draining
    _draining = False


def track(connection: Drainable) -> None:
    """A connection that a drain must park and close."""
    _connections.add(connection)


async def drain(seconds: float, stop_accepting: Callable[[], object] | None = None) -> int:
    """Drain this worker within ``seconds`` (see the module's documentation); returns how many connections were
    closed."""
    from signaling import signals
    from signaling.registry import get_registry

    start_draining()
    if stop_accepting is not None:
        stop_accepting()
    loop = asyncio.get_running_loop()
    # Only this event loop's open connections (a process runs one loop under daphne; tests run several).
    connections = [c for c in list(_connections) if c.is_open and c.loop is loop]
    logger.warning("Draining: parking the peers of %d connections and closing them (1012)", len(connections))
    deadline = loop.time() + seconds
    if connections:
        # Each closes on its own, in parallel: one slow socket holds up no other.
        await asyncio.wait([loop.create_task(c.drain()) for c in connections], timeout=max(0.1, seconds / 2))
        # Their disconnects arrive as the clients answer the close; wait for those, within the time left.
        waiting = [loop.create_task(c.finished()) for c in connections]
        await asyncio.wait(waiting, timeout=max(0.1, deadline - loop.time()))
        for task in waiting:
            task.cancel()
    from signaling.events import get_dispatcher

    try:
        # Departures of connections that did not park reach their receivers (the log) before the flush below.
        await within(get_dispatcher().drain(), max(0.1, deadline - loop.time()))
    except TimeoutError:
        logger.error("Draining: lifecycle events still queued")
    try:
        await within(
            signals.worker_stopping.asend_robust(sender=type(connections[0]) if connections else object),
            max(0.1, deadline - loop.time()),
        )
    except TimeoutError:
        logger.error("Draining: worker_stopping receivers did not finish in time")
    try:
        await within(get_registry().shutdown(), max(0.1, deadline - loop.time()))
    except Exception:
        logger.exception("Draining: the registry did not shut down cleanly")
    return len(connections)


def install_sigterm_handler(timeout: Callable[[], float], stop_accepting: Callable[[], object]) -> None:
    """On SIGTERM, drain this worker, then hand the signal to the handler that was installed before (the
    server's own, which stops it). Installed once per process, from the running event loop."""
    global _installed
    if _installed:
        return
    _installed = True
    loop = asyncio.get_running_loop()
    previous = signal.getsignal(signal.SIGTERM)

    async def drain_then_stop() -> None:
        try:
            await drain(timeout(), stop_accepting)
        except Exception:
            logger.exception("Draining failed")
        finally:
            if callable(previous):
                previous(signal.SIGTERM, None)
            else:
                raise SystemExit(0)

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        if _draining:
            return  # a second SIGTERM while draining: the first one's drain goes on
        loop.call_soon_threadsafe(in_background, drain_then_stop(), loop)

    signal.signal(signal.SIGTERM, on_sigterm)
