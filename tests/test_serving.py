"""What signaling.serving changes in daphne and Autobahn (issue 24), and that they still do what they did: every
connection's options are its factory's, a debug line's text is made only if it is logged, and daphne's input queue
hands over every message, in order, a cancelled reader's included. The whole suite's daphne tests run with these
changes (TUNE_SERVER is on by default)."""

from __future__ import annotations

import asyncio
import pprint
from typing import Any

import daphne.server
import pytest
from autobahn.websocket.protocol import WebSocketServerProtocol
from daphne.ws_protocol import WebSocketFactory
from twisted.internet.testing import StringTransport

from signaling import serving
from signaling.serving import DeferredFormat, InputQueue, protocol_with_options_of


def test_it_is_installed_under_daphne_by_the_apps_ready() -> None:
    assert serving.install() is True  # already: idempotent
    assert daphne.server.asyncio.Queue is InputQueue
    # Everything else daphne's server takes from asyncio is asyncio's.
    assert daphne.server.asyncio.ensure_future is asyncio.ensure_future
    assert daphne.server.asyncio.CancelledError is asyncio.CancelledError
    assert serving.install(enabled=False) is False


class Server:
    """What daphne's WebSocketFactory needs of its server."""

    def __init__(self) -> None:
        self.connected: list[Any] = []

    def protocol_connected(self, protocol: Any) -> None:
        self.connected.append(protocol)


def factory() -> WebSocketFactory:
    made = WebSocketFactory(Server(), server="test")
    made.setProtocolOptions(autoPingTimeout=7, maxMessagePayloadSize=12345, openHandshakeTimeout=3)
    return made


def test_a_connection_takes_its_factorys_options_without_a_copy_of_its_own() -> None:
    made = factory()
    protocol = made.buildProtocol(("127.0.0.1", 1234))
    protocol.makeConnection(StringTransport())  # Autobahn's _connectionMade: where it copies options it lacks
    names = set(WebSocketServerProtocol.CONFIG_ATTRS)
    assert len(names) > 20
    assert names & set(vars(protocol)) == set()
    assert (protocol.autoPingTimeout, protocol.maxMessagePayloadSize, protocol.openHandshakeTimeout) == (7, 12345, 3)
    assert all(getattr(protocol, name) == getattr(made, name) for name in names)
    # An option that is a function is the option, not a method of the connection.
    assert protocol.perMessageCompressionAccept([]) is None
    # Every connection of the factory is of one class; another factory's, of another, with its own options.
    assert type(made.buildProtocol(("127.0.0.1", 1235))) is type(protocol)
    other = WebSocketFactory(Server(), server="other")
    other.setProtocolOptions(autoPingTimeout=9)
    assert protocol_with_options_of(other) is not type(protocol)
    assert other.buildProtocol(("127.0.0.1", 1236)).autoPingTimeout == 9


def test_a_debug_lines_text_is_made_only_if_it_is_logged(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    real = pprint.pformat
    monkeypatch.setattr(pprint, "pformat", lambda value: calls.append(value) or real(value))
    deferred = DeferredFormat([("autoPingTimeout", 7)])
    assert calls == []
    assert f"{deferred}" == "[('autoPingTimeout', 7)]" == str(deferred)
    assert len(calls) == 2


async def test_the_input_queue_hands_over_every_message_in_order() -> None:
    queue: InputQueue[int] = InputQueue()
    assert queue.empty()
    reader = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    for number in range(3):
        queue.put_nowait(number)
    assert await reader == 0
    assert [await queue.get(), await queue.get()] == [1, 2]
    assert queue.qsize() == 0
    assert queue._items is None  # an idle connection's queue holds no deque


async def test_a_message_put_while_its_reader_is_cancelled_waits_for_the_next_get() -> None:
    queue: InputQueue[str] = InputQueue()
    reader = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    queue.put_nowait("kept")
    reader.cancel()  # before the reader ran again to take it
    with pytest.raises(asyncio.CancelledError):
        await reader
    assert queue.qsize() == 1
    assert await queue.get() == "kept"


async def test_several_readers_each_take_a_message() -> None:
    queue: InputQueue[int] = InputQueue()
    readers = [asyncio.ensure_future(queue.get()) for _ in range(3)]
    await asyncio.sleep(0)
    for number in range(3):
        queue.put_nowait(number)
    assert sorted(await asyncio.gather(*readers)) == [0, 1, 2]
    assert queue.empty()
    assert queue._readers is None


async def test_a_reader_woken_then_cancelled_leaves_its_message_to_the_next() -> None:
    queue: InputQueue[str] = InputQueue()
    first = asyncio.ensure_future(queue.get())
    second = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    queue.put_nowait("one")  # wakes the first reader...
    first.cancel()  # ...which is cancelled before it runs
    assert await second == "one"
    with pytest.raises(asyncio.CancelledError):
        await first
