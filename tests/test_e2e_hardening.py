"""Hostile and odd clients against a real daphne: the reproductions of the hardening issue, slow readers and
parked peers with the worker's memory measured, a flood of sockets from one address, and a protocol fuzz run that
checks the server's invariants afterwards."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import redis as redis_client
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from rooms.models import PeerSession
from rtcsite.servers import DaphneProcess, RedisProcess
from tests.rawsocket import RawSocket, close, text
from tests.wsclient import eventually, receive, send

pytestmark = pytest.mark.django_db(transaction=True)

SIGNAL_PATH = "/api/call/signal"
MiB = 1024 * 1024
# Small enough that the tests reach them quickly; the defaults are documented in docs/limits.md.
LIMITS = {
    "RESUME_GRACE": 1.0,
    "OUTBOUND_BUFFER_BYTES": MiB,
    "PARKED_BUFFER_BYTES": 256 * 1024,
    "MAX_SOCKETS_PER_ADDRESS": 64,
    "JOIN_BURST_PER_ADDRESS": 10_000,
    "JOIN_RATE_PER_ADDRESS": 1_000.0,
    "ROOM_CREATION_BURST_PER_ADDRESS": 10_000,
    "ROOM_CREATION_RATE_PER_ADDRESS": 1_000.0,
    "RATE_LIMIT_PER_SECOND": 1_000.0,
    "RATE_LIMIT_BURST": 2_000,
    "HANDSHAKE_TIMEOUT": 2.0,
}


@pytest.fixture(scope="module")
def server(django_db_setup: None, django_db_blocker: Any) -> Iterator[DaphneProcess]:
    database = connection.settings_dict["NAME"]
    env = {"RTCSITE_DATABASE_URL": f"sqlite:///{database}", "SIGNALING_SETTINGS": json.dumps(LIMITS)}
    with DaphneProcess(env=env) as daphne:
        yield daphne
        print(daphne.output())  # shown by pytest when a test of this module fails


@pytest.fixture(scope="module")
def redis_backed_server(django_db_setup: None, django_db_blocker: Any) -> Iterator[tuple[DaphneProcess, RedisProcess]]:
    """The same, with the Redis registry, so that what the registry holds can be read."""
    database = connection.settings_dict["NAME"]
    with RedisProcess() as redis_server:
        env = {
            "RTCSITE_DATABASE_URL": f"sqlite:///{database}",
            "SIGNALING_SETTINGS": json.dumps(LIMITS),
            "REDIS_URL": redis_server.url,
        }
        with DaphneProcess(env=env) as daphne:
            yield daphne, redis_server
            print(daphne.output())


def assert_clean_log(server: DaphneProcess) -> None:
    log = server.output()
    for sign in ("Traceback", "Exception inside application", "Attempt to send on a closed protocol"):
        assert sign not in log, log[-5000:]


async def assert_room_takes_two(server: DaphneProcess, room_id: str) -> None:
    """No ghost holds a seat: two new peers fit in the 2-peer room."""
    async with connect(server.ws_url + SIGNAL_PATH) as a, connect(server.ws_url + SIGNAL_PATH) as b:
        await send(a, t="join", roomId=room_id)
        joined = await receive(a)
        assert (joined["t"], joined["peers"]) == ("joined", []), joined
        await send(b, t="join", roomId=room_id)
        assert (await receive(b))["t"] == "joined"


async def all_sessions_closed() -> bool:
    return not await PeerSession.objects.filter(left_at__isnull=True).aexists()


async def test_the_reported_ghosts_leave(server: DaphneProcess, room_id: str) -> None:
    port = server.port
    # 1. join, then a frame whose error once echoed a lone surrogate.
    peer = RawSocket(port)
    peer.write(text({"t": "join", "roomId": room_id}))
    assert peer.read_message()["t"] == "joined"
    peer.write(text('{"t": "\\ud800"}'))
    assert peer.read_message()["code"] == "invalid-message"
    peer.write(close(1000))
    peer.shut()
    await assert_room_takes_two(server, room_id)
    # 2. a burst of pings and a close frame in the same TCP write: the replies meet a closing socket.
    for _ in range(5):
        peer = RawSocket(port)
        peer.write(text({"t": "join", "roomId": room_id}))
        assert peer.read_message()["t"] == "joined"
        peer.write(*[text({"t": "ping", "ts": n}) for n in range(50)], close(1000))
        peer.shut()
    await assert_room_takes_two(server, room_id)
    # 3. a page reload: join and close in one write, into a room joined moments ago.
    for _ in range(10):
        peer = RawSocket(port)
        peer.write(text({"t": "join", "roomId": room_id}), close(1001))
        peer.shut()
    await assert_room_takes_two(server, room_id)
    # 4. refused joins (a third tab in a full room), each closed at once.
    async with connect(server.ws_url + SIGNAL_PATH) as a, connect(server.ws_url + SIGNAL_PATH) as b:
        for socket in (a, b):
            await send(socket, t="join", roomId=room_id)
            assert (await receive(socket))["t"] == "joined"
        for _ in range(5):
            third = RawSocket(port)
            third.write(text({"t": "join", "roomId": room_id}), close())
            third.shut()
    await eventually(all_sessions_closed)
    assert_clean_log(server)


async def raw_peer_beside(server: DaphneProcess, partner: ClientConnection, room_id: str) -> tuple[RawSocket, str]:
    """``partner`` joins the room, then a peer on a raw socket (whose frames the test writes by hand) joins it too;
    the raw socket and its peer id, once the partner has heard it arrive."""
    await send(partner, t="join", roomId=room_id)
    await receive(partner)
    raw = RawSocket(server.port)
    raw.write(text({"t": "join", "roomId": room_id}))
    raw_id = raw.read_message()["peerId"]
    assert (await receive(partner))["t"] == "peer-joined"
    return raw, raw_id


async def test_a_seed_client_hangup_without_a_code_is_a_departure(server: DaphneProcess, room_id: str) -> None:
    """The seed's client ends a call with ``ws.close()``: an empty close frame. The others must not wait out the
    resume grace for a peer that said goodbye."""
    async with connect(server.ws_url + SIGNAL_PATH) as alice:
        seed, seed_id = await raw_peer_beside(server, alice, room_id)
        started = time.monotonic()
        seed.write(close())
        assert await receive(alice, timeout=0.9) == {"t": "peer-left", "peerId": seed_id, "reason": "disconnect"}
        assert time.monotonic() - started < LIMITS["RESUME_GRACE"]
        seed.shut()


async def test_slow_readers_are_cut_off_and_memory_stays_bounded(server: DaphneProcess) -> None:
    """Four peers that never read, each sent 64 KiB frames at the rate limit: once 1 MiB waits for one of them it
    is cut off (its partner sees it leave), and the worker's memory does not follow the senders."""
    before = server.rss_bytes()
    readers = [RawSocket(server.port, receive_buffer=4096) for _ in range(4)]
    senders: list[ClientConnection] = []
    big = {"type": "offer", "sdp": "v=0\r\n" + "a" * 60_000}
    for n, reader in enumerate(readers):
        room = f"slow-{n}-{time.monotonic_ns()}"
        reader.write(text({"t": "join", "roomId": room}))
        reader_id = reader.read_message()["peerId"]
        sender = await connect(server.ws_url + SIGNAL_PATH, max_size=None)
        await send(sender, t="join", roomId=room)
        assert (await receive(sender))["t"] == "joined"
        senders.append(sender)
        reader.peer_id = reader_id  # type: ignore[attr-defined]

    async def flood(sender: ClientConnection, reader_id: str) -> None:
        # Bounded: at most 400 frames (24 MiB) or 20 s; the reader must be cut off long before.
        deadline = time.monotonic() + 20
        for _ in range(400):
            await send(sender, t="sdp", to=reader_id, description=big)
            try:
                message = json.loads(await asyncio.wait_for(sender.recv(), 0.02))
            except TimeoutError:
                assert time.monotonic() < deadline
                continue
            if message.get("t") == "peer-left":
                assert message == {"t": "peer-left", "peerId": reader_id, "reason": "disconnect"}
                return
        raise AssertionError("the slow reader was never cut off")

    await asyncio.gather(*(flood(s, r.peer_id) for s, r in zip(senders, readers, strict=True)))  # type: ignore[attr-defined]
    grown = server.rss_bytes() - before
    assert grown < 60 * MiB, f"the worker grew by {grown / MiB:.0f} MiB"
    for sender in senders:
        await sender.close()
    for reader in readers:
        reader.abort()
    await eventually(all_sessions_closed)
    assert_clean_log(server)


async def test_parked_peers_hold_a_bounded_amount(server: DaphneProcess) -> None:
    """Twenty peers drop (no close frame) while their partners keep sending 60 KiB offers: each parked peer leaves
    once it would hold more than its share, and the worker stays small."""
    before = server.rss_bytes()
    pairs: list[tuple[ClientConnection, str]] = []
    big = {"type": "offer", "sdp": "v=0\r\n" + "a" * 60_000}
    for n in range(20):
        room = f"parked-{n}-{time.monotonic_ns()}"
        partner = await connect(server.ws_url + SIGNAL_PATH)
        dropped, dropped_id = await raw_peer_beside(server, partner, room)
        dropped.abort()
        pairs.append((partner, dropped_id))
    for partner, dropped_id in pairs:
        for _ in range(6):  # 360 KiB: past the 256 KiB a parked peer may hold
            await send(partner, t="sdp", to=dropped_id, description=big)
    for partner, dropped_id in pairs:
        assert await receive(partner, timeout=5) == {"t": "peer-left", "peerId": dropped_id, "reason": "disconnect"}
    grown = server.rss_bytes() - before
    assert grown < 60 * MiB, f"the worker grew by {grown / MiB:.0f} MiB"
    for partner, _ in pairs:
        await partner.close()
    assert_clean_log(server)


async def test_one_address_cannot_open_unbounded_sockets(server: DaphneProcess) -> None:
    limit = LIMITS["MAX_SOCKETS_PER_ADDRESS"]
    sockets = [await connect(server.ws_url + SIGNAL_PATH) for _ in range(limit + 6)]
    try:
        codes = []
        for socket in sockets[limit:]:
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(socket.recv(), 5)
            codes.append(closed.value.rcvd.code if closed.value.rcvd else None)
        assert codes == [4012] * 6
        await send(sockets[0], t="ping", ts=1)
        assert await receive(sockets[0]) == {"t": "pong", "ts": 1}
    finally:
        await asyncio.gather(*(socket.close() for socket in sockets))


async def trickle_until_dropped(port: int, head: bytes, seconds: float) -> float:
    """Connect, send ``head``, then a header line every 0.3 s: how long until the server dropped the connection
    (``seconds`` if it had not by then)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head)
    try:
        return await trickle_on(reader, writer, seconds)
    finally:
        writer.close()


async def trickle_on(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seconds: float) -> float:
    """Send a header line every 0.3 s: how long until the server dropped the connection (or ``seconds``)."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        try:
            writer.write(b"X-Trickle: 1\r\n")
            await writer.drain()
            if await asyncio.wait_for(reader.read(65536), 0.3) == b"":
                break
        except TimeoutError:
            continue
        except OSError:  # reset
            break
    return time.monotonic() - started


async def test_a_connection_that_trickles_its_request_head_is_dropped(server: DaphneProcess) -> None:
    """60 clients that trickle a header line now and then are each dropped once HANDSHAKE_TIMEOUT has passed, and
    counted; a WebSocket that is up outlives it."""
    deadline = LIMITS["HANDSHAKE_TIMEOUT"]
    upgrade = b"GET /api/call/signal HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    async with connect(server.ws_url + SIGNAL_PATH) as socket:
        dropped = await asyncio.gather(*(trickle_until_dropped(server.port, upgrade, 4 * deadline) for _ in range(60)))
        assert all(deadline - 0.1 < t < deadline + 2 for t in dropped), dropped
        # The WebSocket that was up all along, longer than the deadline, still serves.
        await send(socket, t="ping", ts=7)
        assert await receive(socket) == {"t": "pong", "ts": 7}
    # After a response: daphne ends the connection, so no second request head can be trickled on it either (were
    # it kept alive, the deadline would be armed again).
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 200"), head
    length = next(
        int(line.split(b":")[1]) for line in head.lower().split(b"\r\n") if line.startswith(b"content-length")
    )
    await asyncio.wait_for(reader.readexactly(length), 5)
    try:
        assert await trickle_on(reader, writer, 4 * deadline) < 1
    finally:
        writer.close()
    metrics = await asyncio.to_thread(urllib.request.urlopen, server.http_url + "/metrics", timeout=5)
    (counted,) = [line for line in metrics.read().decode().splitlines() if line.startswith(TIMEOUTS + " ")]
    assert float(counted.split()[-1]) >= 60, counted


TIMEOUTS = "signaling_handshake_timeouts_total"


# -- fuzz ------------------------------------------------------------------------------------------------------------

ODD_TEXT = st.sampled_from(["\ud800", "\udfff", "\x00", "\u202e", "\u200f", "\ufeff", "é", "😀", "", " " * 3])
STRINGS = st.one_of(st.text(max_size=40), ODD_TEXT, st.builds(lambda s, n: s * n, ODD_TEXT, st.integers(1, 2000)))
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True), STRINGS)
JSON_VALUES = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(STRINGS, inner, max_size=4), max_leaves=12
)
TYPES = st.sampled_from(["join", "leave", "sdp", "ice", "ping", "joined", "error", "", "JOIN", "\ud800"])


@st.composite
def frames(draw: st.DrawFn, room_id: str, partner: str) -> str:
    """A frame: well-shaped messages with fields gone wrong, arbitrary JSON, deep nesting or not JSON at all."""
    kind = draw(st.integers(0, 5))
    if kind == 0:
        message = {
            "t": draw(TYPES),
            **draw(
                st.dictionaries(
                    st.sampled_from(["roomId", "to", "description", "candidate", "ts", "resume", "token"]),
                    JSON_VALUES,
                    max_size=3,
                )
            ),
        }
    elif kind == 1:
        message = {
            "t": "sdp",
            "to": draw(st.sampled_from([partner, "peer-nobody", "\ud800"])),
            "description": {"type": draw(st.sampled_from(["offer", "answer", "rollback", "x"])), "sdp": draw(STRINGS)},
        }
    elif kind == 2:
        message = {"t": "join", "roomId": draw(st.sampled_from([room_id, room_id + "\ud800", "..", "a" * 200]))}
    elif kind == 3:
        depth = draw(st.integers(1, 40_000))
        return '{"t": "ping", "x": ' + "[" * depth + "]" * depth + "}"
    elif kind == 4:
        return draw(st.text(max_size=200))
    else:
        message = draw(JSON_VALUES)
    return json.dumps(message, allow_nan=True)


async def fuzz_once(
    server: DaphneProcess, room_id: str, sent: list[str], ending: str, bystanders: Any, serial: int
) -> None:
    url = server.ws_url + SIGNAL_PATH
    async with connect(url, max_size=None) as partner:
        await send(partner, t="join", roomId=room_id)
        await receive(partner)
        hostile = RawSocket(server.port)
        hostile.write(text({"t": "join", "roomId": room_id}))
        hostile.read_message()
        hostile.write(*[text(frame) for frame in sent])
        # The bystanders' room goes on throughout.
        sender, listener = bystanders
        await send(sender, t="ice", to=listener[1], candidate={"candidate": f"serial-{serial}"})
        if ending == "abort":
            hostile.abort()
        else:
            hostile.write(close(None if ending == "no-code" else 1000))
            hostile.shut()


@pytest.mark.parametrize("registry", ["memory", "redis"])
async def test_protocol_fuzz_keeps_every_invariant(registry: str, request: pytest.FixtureRequest) -> None:
    redis_server: RedisProcess | None = None
    if registry == "redis":
        server, redis_server = request.getfixturevalue("redis_backed_server")
    else:
        server = request.getfixturevalue("server")
    url = server.ws_url + SIGNAL_PATH
    before = server.rss_bytes()
    bystander_room = f"bystanders-{time.monotonic_ns()}"
    sender = await connect(url)
    listener = await connect(url)
    await send(sender, t="join", roomId=bystander_room)
    sender_id = (await receive(sender))["peerId"]
    await send(listener, t="join", roomId=bystander_room)
    listener_id = (await receive(listener))["peerId"]
    await receive(sender)  # peer-joined
    rooms: list[str] = []
    serials: list[int] = []
    loop = asyncio.get_running_loop()

    @settings(
        max_examples=40,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        room_id = f"fuzz-{len(rooms)}-{time.monotonic_ns()}"
        rooms.append(room_id)
        sent = data.draw(st.lists(frames(room_id, "peer-partner"), max_size=15))
        ending = data.draw(st.sampled_from(["close", "no-code", "abort"]))
        serials.append(len(serials))
        future = asyncio.run_coroutine_threadsafe(
            fuzz_once(server, room_id, sent, ending, (sender, (listener, listener_id)), serials[-1]), loop
        )
        future.result(30)

    await asyncio.to_thread(run)
    # The unrelated room got every message, in order.
    got = [(await receive(listener))["candidate"]["candidate"] for _ in serials]
    assert got == [f"serial-{n}" for n in serials]
    assert sender_id != listener_id
    await sender.close()
    await listener.close()
    # No ghost: every session ends (parked peers once their grace is over), then every fuzzed room takes two new
    # peers; nothing crashed.
    await eventually(all_sessions_closed, timeout=15)
    for room_id in rooms[:10]:
        await assert_room_takes_two(server, room_id)
    assert_clean_log(server)
    assert "1011" not in server.output()
    grown = server.rss_bytes() - before
    assert grown < 80 * MiB, f"the worker grew by {grown / MiB:.0f} MiB"
    if redis_server is not None:
        # Once everyone has left, the shared registry holds no trace of any of them.
        store = redis_client.Redis.from_url(redis_server.url, decode_responses=True)

        def registry_empty() -> bool:
            return (
                not store.keys("signaling:room:*")
                and not store.smembers("signaling:rooms")
                and not any(store.hlen(key) for key in store.keys("signaling:peers:*"))
            )

        await eventually(registry_empty, timeout=15)
