from __future__ import annotations

import contextlib
import json
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator

from rooms.recorder import get_recorder
from rooms.resolver import ModelRoomResolver
from rtcsite.servers import DaphneProcess, RedisProcess
from signaling.consumer import SignalingConsumer
from signaling.events import get_dispatcher
from signaling.registry import get_registry


class Peer:
    """A test client speaking the wire protocol to a consumer through channels' WebsocketCommunicator."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.communicator = communicator
        self.peer_id: str | None = None
        self.closed = False

    async def send(self, **message: Any) -> None:
        await self.send_text(json.dumps(message))

    async def send_text(self, text: str) -> None:
        await self.communicator.send_input({"type": "websocket.receive", "text": text})

    async def send_bytes(self, data: bytes) -> None:
        await self.communicator.send_input({"type": "websocket.receive", "bytes": data})

    async def receive(self, timeout: float = 2) -> dict[str, Any]:
        output = await self.communicator.receive_output(timeout)
        assert output["type"] == "websocket.send", output
        message: dict[str, Any] = json.loads(output["text"])
        return message

    async def receive_close(self, timeout: float = 2) -> int:
        output = await self.communicator.receive_output(timeout)
        assert output["type"] == "websocket.close", output
        return int(output.get("code", 1000))

    async def join(self, room_id: str, **fields: Any) -> dict[str, Any]:
        await self.send(t="join", roomId=room_id, **fields)
        joined = await self.receive()
        assert joined["t"] == "joined", joined
        self.peer_id = joined["peerId"]
        return joined

    async def expect_error(self, code: str, message: str | None = None) -> dict[str, Any]:
        error = await self.receive()
        assert error["t"] == "error", error
        assert error["code"] == code, error
        if message is not None:
            assert error["message"] == message, error
        return error

    async def assert_still_serving(self) -> None:
        await self.send(t="ping", ts=7)
        assert await self.receive() == {"t": "pong", "ts": 7}

    async def assert_silent(self, timeout: float = 0.1) -> None:
        assert await self.communicator.receive_nothing(timeout), "expected no frame"

    async def drop(self, code: int = 1006) -> None:
        """The connection is lost (no clean close): what a network failure looks like to the server."""
        self.closed = True
        await self.communicator.send_input({"type": "websocket.disconnect", "code": code})
        await self.communicator.wait(2)

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        # A receive that timed out has already cancelled the application.
        if not self.communicator.future.done():
            await self.communicator.disconnect()


Connect = Callable[..., Awaitable[Peer]]


@contextlib.contextmanager
def seated(members: list[tuple[str, str]], max_peers: int = 4) -> Iterator[list[FakePeer]]:
    """Put fake peers (room id, peer id) into the registry for the block, and take them out after it."""
    registry = get_registry()
    peers = [FakePeer(peer_id) for _, peer_id in members]
    for (room_id, _), peer in zip(members, peers, strict=True):
        async_to_sync(registry.join)(room_id, peer, max_peers)
    try:
        yield peers
    finally:
        for room_id, peer_id in members:
            async_to_sync(registry.leave)(room_id, peer_id, "leave")


class FakePeer:
    """A member put straight into a registry, with no socket: it swallows frames and remembers evictions."""

    mount = 0

    def __init__(self, peer_id: str) -> None:
        self.peer_id = peer_id
        self.evicted: list[str] = []
        self.replaced_count = 0

    async def deliver(self, frame: str) -> None:
        pass

    async def end(self, code: int) -> None:
        pass

    async def evict(self, reason: str) -> None:
        self.evicted.append(reason)

    async def replaced(self) -> None:
        self.replaced_count += 1


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisProcess]:
    """A redis-server of the tests' own (tests that stop it start it again)."""
    with RedisProcess() as server:
        yield server


@pytest.fixture(params=["memory", "redis"])
def registry_kind(request: pytest.FixtureRequest, settings: Any) -> str:
    """Run a test once with the in-process registry and once with the Redis one (as a single worker)."""
    if request.param == "redis":
        server = request.getfixturevalue("redis_server")
        settings.SIGNALING = {
            **settings.SIGNALING,
            "REDIS_URL": server.url,
            "REDIS_PREFIX": f"t{uuid.uuid4().hex[:8]}",
        }
    return str(request.param)


@pytest.fixture
def room_id() -> str:
    return f"room-{uuid.uuid4().hex[:12]}"


@pytest.fixture(autouse=True)
def _fresh_room_cache() -> None:
    # Tests flush the database between them without sending post_delete; cached rooms would outlive it.
    ModelRoomResolver.forget_all()


async def settle() -> None:
    """Wait until every lifecycle event so far has reached its receivers and the database."""
    await get_dispatcher().drain()
    await get_recorder().flush()


@pytest.fixture
async def connect() -> AsyncIterator[Connect]:
    """Open a socket to a consumer (``SignalingConsumer.as_asgi(**options)`` unless ``app`` is given)."""
    peers: list[Peer] = []

    async def open_peer(
        app: Any = None,
        *,
        headers: list[tuple[bytes, bytes]] | None = None,
        client: tuple[str, int] | None = None,
        **options: Any,
    ) -> Peer:
        application = app or SignalingConsumer.as_asgi(**options)
        communicator = WebsocketCommunicator(application, "/api/call/signal", headers=headers)
        if client is not None:
            communicator.scope["client"] = client  # the address daphne would report
        connected, _ = await communicator.connect()
        assert connected
        peer = Peer(communicator)
        peers.append(peer)
        return peer

    yield open_peer
    for peer in peers:
        await peer.close()
    await settle()


#: The folder of the tests that drive Chromium: each of them is marked ``browser`` (noxfile.py's later legs leave
#: them out).
BROWSER_TESTS = Path(__file__).parent / "browser"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(BROWSER_TESTS):
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    """A failing test that ran against daphne processes shows what they logged."""
    report = yield
    if report.failed:
        for name, value in getattr(item, "funcargs", {}).items():
            processes = [value, getattr(value, "daphne", None), *getattr(value, "workers", [])]
            for process in processes:
                if isinstance(process, DaphneProcess):
                    report.sections.append((f"daphne log ({name})", what_it_logged(process.output())[-20000:]))
    return report


#: A line of daphne's access log ("127.0.0.1:35596 - - [07/Dec/2026:08:51:08] "GET /static/..." 200 18878").
ACCESS_LINE = re.compile(r'^\S+ - - \[[^]]+\] "(GET|HEAD) ')


def what_it_logged(output: str) -> str:
    """A daphne process's log without its GET access lines (a browser test's are mostly static files), which
    would push what the code logged out of the report; its sockets' comings and goings stay."""
    return "\n".join(line for line in output.splitlines() if not ACCESS_LINE.match(line))
