"""Hostile and odd clients against the consumer, in process: each test attacks a class of defect.

- Ghosts: however a connection ends (a failed write, a defect in a handler, a cancelled task), its peer leaves the
  room exactly once and its session is closed.
- The door: no string that cannot be encoded (lone surrogates, NUL) gets past ``parse`` in any field.
- Close codes: only a drop (1006) or a client's "reconnecting" (4000) parks; any close the client chose is a
  departure.
- Buffers and budgets: parked peers, per-address sockets, joins and room creations are bounded.
- Grants are per join; the log keeps every record a bad one shares a batch with.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.utils import timezone

from rooms.models import PeerSession, Room, RoomEvent
from rooms.recorder import Kind, Record, get_recorder
from signaling.consumer import SignalingConsumer
from signaling.registry import get_registry
from signaling.tokens import issue_room_token
from signaling.transport import SocketClosed
from tests.conftest import Connect, Peer, settle
from tests.wsclient import eventually

pytestmark = [pytest.mark.django_db(transaction=True)]

ADDRESS = "203.0.113.9"


def from_address(address: str, app: Any = None, *, wrap_send: Callable[[Any], Any] | None = None) -> Any:
    """The consumer as a server would run it for a client at ``address`` (and, with ``wrap_send``, a send that
    misbehaves the way the test wants)."""
    application = app or SignalingConsumer.as_asgi()

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await application({**scope, "client": [address, 40000]}, receive, wrap_send(send) if wrap_send else send)

    return asgi


async def open_socket(app: Any) -> Peer:
    communicator = WebsocketCommunicator(app, "/api/call/signal")
    connected, _ = await communicator.connect()
    assert connected
    return Peer(communicator)


async def two_in_a_room(connect: Connect, room_id: str, second: Peer | None = None) -> tuple[Peer, Peer]:
    alice = await connect()
    await alice.join(room_id)
    bob = second or await connect()
    await bob.join(room_id)
    assert await alice.receive() == {"t": "peer-joined", "peerId": bob.peer_id}
    return alice, bob


async def assert_left_once(observer: Peer, peer_id: str | None, room_id: str, reason: str = "disconnect") -> None:
    assert await observer.receive() == {"t": "peer-left", "peerId": peer_id, "reason": reason}
    await observer.assert_silent(0.2)
    assert get_registry().members(room_id) == [observer.peer_id]
    await settle()

    async def session_closed() -> bool:
        return await PeerSession.objects.filter(peer_id=peer_id, left_at__isnull=False).aexists()

    await eventually(session_closed, timeout=5)
    session = await PeerSession.objects.aget(peer_id=peer_id)
    assert session.leave_reason == reason
    assert await RoomEvent.objects.filter(peer_id=peer_id, kind=Kind.PEER_LEFT).acount() == 1


# -- ghosts ----------------------------------------------------------------------------------------------------------


class BrokenSend:
    """An ASGI send that starts failing when told to, the way daphne's does once a socket is closing (autobahn's
    ``Disconnected``) or with any other error."""

    def __init__(self, send: Any) -> None:
        self.send = send
        self.failure: BaseException | None = None

    async def __call__(self, message: dict[str, Any]) -> None:
        if self.failure is not None and message["type"] == "websocket.send":
            raise self.failure
        await self.send(message)


@pytest.mark.parametrize(
    "failure",
    [
        SocketClosed("Attempt to send on a closed protocol"),
        RuntimeError("boom"),
        UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"),
    ],
)
async def test_a_failing_send_never_leaves_a_ghost(connect: Connect, room_id: str, failure: BaseException) -> None:
    sends: list[BrokenSend] = []

    def wrap(send: Any) -> BrokenSend:
        sends.append(BrokenSend(send))
        return sends[-1]

    alice, bob = await two_in_a_room(connect, room_id, await open_socket(from_address(ADDRESS, wrap_send=wrap)))
    sends[0].failure = failure
    # A refusal (its error frame cannot be written), then a relay to bob (likewise), then the socket goes.
    await bob.send(t="no-such-type")
    await alice.send(t="ice", to=bob.peer_id, candidate={"candidate": "c"})
    await bob.communicator.send_input({"type": "websocket.disconnect", "code": 1001})
    await bob.communicator.wait(2)
    bob.closed = True
    await assert_left_once(alice, bob.peer_id, room_id)


async def test_a_cancelled_connection_leaves_its_room(connect: Connect, room_id: str) -> None:
    """What daphne does to every application on shutdown, and to one that outlives its close timeout."""
    alice, bob = await two_in_a_room(connect, room_id)
    bob.communicator.future.cancel()
    with pytest.raises(asyncio.CancelledError):
        await bob.communicator.future
    bob.closed = True
    await assert_left_once(alice, bob.peer_id, room_id)


async def test_a_defect_in_a_handler_closes_with_1011_and_leaves(connect: Connect, room_id: str) -> None:
    class Defective(SignalingConsumer):
        async def websocket_receive(self, message: dict[str, Any]) -> None:
            if "explode" in message.get("text", ""):
                raise RuntimeError("a defect outside any handler's own error handling")
            await super().websocket_receive(message)

    alice = await connect()
    await alice.join(room_id)
    bob = await connect(Defective.as_asgi())
    await bob.join(room_id)
    await alice.receive()
    await bob.send(t="explode")
    assert await bob.receive_close() == 1011
    bob.closed = True
    await assert_left_once(alice, bob.peer_id, room_id)


# -- the door --------------------------------------------------------------------------------------------------------

UNENCODABLE = ["\ud800", "\udfff", "a\x00b", "\udbff\udc00"[::-1]]


def frames_carrying(bad: str, room_id: str, to: str) -> list[str]:
    """The same bad string in every place a client can put a string."""
    candidate = {"candidate": "candidate:1 1 udp 1 192.0.2.1 9 typ host", "sdpMid": "0"}
    return [
        json.dumps({"t": bad}),
        json.dumps({"t": "join", "roomId": room_id + bad}),
        json.dumps({"t": "sdp", "to": to, "description": {"type": "offer", "sdp": "v=0" + bad}}),
        json.dumps({"t": "sdp", "to": to + bad, "description": {"type": "offer", "sdp": "v=0"}}),
        json.dumps({"t": "ice", "to": to, "candidate": {**candidate, "candidate": bad}}),
        json.dumps({"t": "ice", "to": to, "candidate": {**candidate, "sdpMid": bad}}),
        json.dumps({"t": "ice", "to": to, "candidate": {**candidate, "usernameFragment": bad}}),
        json.dumps({"t": "ping", "extra": {bad: [bad]}}),
        json.dumps({"t": "leave", "note": bad}),
    ]


@pytest.mark.parametrize("bad", UNENCODABLE)
async def test_unencodable_strings_are_refused_at_the_door(connect: Connect, room_id: str, bad: str) -> None:
    alice, bob = await two_in_a_room(connect, room_id)
    for frame in frames_carrying(bad, room_id, alice.peer_id or ""):
        await bob.send_text(frame)
        error = await bob.receive()
        assert (error["t"], error["code"]) == ("error", "invalid-message"), (frame, error)
        # The error itself is always encodable: the client gets it, nothing raises on the way out.
        json.dumps(error, ensure_ascii=False).encode()
    await alice.assert_silent()
    await bob.assert_still_serving()
    assert sorted(get_registry().members(room_id)) == sorted([alice.peer_id, bob.peer_id])


async def test_a_raw_lone_surrogate_is_refused(connect: Connect) -> None:
    """A server that hands over text without validating UTF-8 (daphne does validate) still cannot slip one in."""
    peer = await connect()
    await peer.send_text('{"t": "ping", "x": "\ud800"}')
    await peer.expect_error("invalid-message")


@pytest.mark.parametrize("depth", [1_000, 30_000])
async def test_deep_nesting_is_invalid_json_not_internal(connect: Connect, depth: int) -> None:
    peer = await connect()
    await peer.send_text('{"t": "ping", "x": ' + "[" * depth + "]" * depth + "}")
    reply = await peer.receive()
    if depth < 900:
        assert reply == {"t": "pong"}
    else:
        assert reply["t"] in ("error", "pong")
        assert reply.get("code") != "internal"
    await peer.assert_still_serving()


async def test_nesting_beyond_the_parsers_stack_is_invalid_json(connect: Connect) -> None:
    peer = await connect()
    await peer.send_text('{"t": ' + "[" * 30_000 + "]" * 30_000 + "}")
    await peer.expect_error("invalid-json", "Invalid JSON")


async def test_room_ids_of_dots_alone_are_refused(connect: Connect) -> None:
    peer = await connect()
    for room_id in (".", "..", "..."):
        await peer.send(t="join", roomId=room_id)
        await peer.expect_error("invalid-room")
    await peer.join(".hidden..but-fine.")


async def test_unknown_type_echo_is_short(connect: Connect) -> None:
    peer = await connect()
    await peer.send(t="x" * 10_000)
    error = await peer.expect_error("unknown-type")
    assert len(error["message"]) < 100


# -- close codes -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [None, 1000, 1001, 1011, 3000, 4001, 4999])
async def test_a_close_the_client_chose_is_a_departure(connect: Connect, room_id: str, code: int | None) -> None:
    """The seed's client hangs up with ``ws.close()``: no code (1005, reported as None). That is a departure."""
    alice, bob = await two_in_a_room(connect, room_id)
    await bob.communicator.send_input({"type": "websocket.disconnect", "code": code})
    await bob.communicator.wait(2)
    bob.closed = True
    assert await alice.receive(timeout=1) == {"t": "peer-left", "peerId": bob.peer_id, "reason": "disconnect"}


@pytest.mark.parametrize("code", [1006, 4000])
async def test_a_drop_or_a_client_reconnecting_parks(connect: Connect, room_id: str, code: int) -> None:
    alice, bob = await two_in_a_room(connect, room_id)
    await bob.drop(code)
    await alice.assert_silent(0.3)
    assert sorted(get_registry().members(room_id)) == sorted([alice.peer_id, bob.peer_id])


async def test_a_parked_peer_over_its_buffer_leaves_at_once(connect: Connect, room_id: str, settings: Any) -> None:
    settings.SIGNALING = {**settings.SIGNALING, "PARKED_BUFFER_BYTES": 20_000, "RESUME_GRACE": 30}
    alice, bob = await two_in_a_room(connect, room_id)
    await bob.drop()
    big = {"type": "offer", "sdp": "v=0\r\n" + "a" * 6_000}
    for _ in range(3):
        await alice.send(t="sdp", to=bob.peer_id, description=big)
    await alice.assert_silent(0.2)
    await alice.send(t="sdp", to=bob.peer_id, description=big)
    # Not after the 30 s grace: now, since a resume could no longer be complete.
    assert await alice.receive(timeout=2) == {"t": "peer-left", "peerId": bob.peer_id, "reason": "disconnect"}
    assert get_registry().members(room_id) == [alice.peer_id]


async def test_a_parked_peer_over_its_frame_count_leaves_at_once(connect: Connect, room_id: str, settings: Any) -> None:
    settings.SIGNALING = {**settings.SIGNALING, "PARKED_BUFFER_FRAMES": 5, "RESUME_GRACE": 30}
    alice, bob = await two_in_a_room(connect, room_id)
    await bob.drop()
    for n in range(6):
        await alice.send(t="ice", to=bob.peer_id, candidate={"candidate": f"c{n}"})
    assert await alice.receive(timeout=2) == {"t": "peer-left", "peerId": bob.peer_id, "reason": "disconnect"}


# -- per-address budgets ---------------------------------------------------------------------------------------------


async def test_sockets_per_address_are_bounded(settings: Any) -> None:
    settings.SIGNALING = {**settings.SIGNALING, "MAX_SOCKETS_PER_ADDRESS": 3}
    app = from_address(ADDRESS)
    held = [await open_socket(app) for _ in range(3)]
    refused = await open_socket(app)
    assert await refused.receive_close() == 4012
    # Another address is not affected, and a socket that closes makes room again.
    other = await open_socket(from_address("198.51.100.7"))
    await other.assert_still_serving()
    await held[0].close()
    again = await open_socket(app)
    await again.assert_still_serving()
    for peer in [*held[1:], other, again]:
        await peer.close()


async def test_sockets_per_worker_are_bounded(settings: Any) -> None:
    settings.SIGNALING = {**settings.SIGNALING, "MAX_SOCKETS": 2}
    held = [await open_socket(from_address(f"198.51.100.{n}")) for n in range(2)]
    refused = await open_socket(from_address("198.51.100.99"))
    assert await refused.receive_close() == 1013
    for peer in held:
        await peer.close()


async def test_joins_per_address_are_rate_limited(settings: Any, room_id: str) -> None:
    settings.SIGNALING = {**settings.SIGNALING, "JOIN_RATE_PER_ADDRESS": 0.01, "JOIN_BURST_PER_ADDRESS": 3}
    peer = await open_socket(from_address(ADDRESS))
    for _ in range(3):
        await peer.join(room_id)
        await peer.send(t="leave")
    await peer.send(t="join", roomId=room_id)
    await peer.expect_error("rate-limited")
    # Not one socket's budget: the address's. A second socket from it is refused too.
    second = await open_socket(from_address(ADDRESS))
    await second.send(t="join", roomId=room_id)
    await second.expect_error("rate-limited")
    await peer.close()
    await second.close()


async def test_new_ad_hoc_rooms_per_address_are_bounded_and_leave_no_rows(settings: Any) -> None:
    settings.SIGNALING = {
        **settings.SIGNALING,
        "ROOM_CREATION_RATE_PER_ADDRESS": 0.01,
        "ROOM_CREATION_BURST_PER_ADDRESS": 2,
    }
    peer = await open_socket(from_address(ADDRESS))
    for n in range(2):
        await peer.join(f"spam-{n}")
        await peer.send(t="leave")
    await peer.send(t="join", roomId="spam-2")
    await peer.expect_error("rate-limited")
    assert "spam-2" not in get_registry().live_rooms()
    # Joining a room that is live already creates nothing: allowed.
    host = await open_socket(from_address("198.51.100.1"))
    await host.join("busy")
    await peer.join("busy")
    await peer.close()
    await host.close()
    await settle()
    assert not await Room.objects.filter(id="spam-2").aexists()


# -- grants are per join ---------------------------------------------------------------------------------------------


async def test_a_room_tokens_user_counts_for_its_own_join_only(connect: Connect) -> None:
    alice = await User.objects.acreate(username="alice")
    await Room.objects.acreate(id="open-a")
    await Room.objects.acreate(id="members-b", access="authenticated")
    token, _ = issue_room_token("open-a", alice.pk)
    peer = await connect()
    await peer.send(t="join", roomId="open-a", token=token)
    first = await peer.receive()
    assert first["t"] == "joined"
    await peer.send(t="leave")
    # Anonymous again: the token named another room, and it was for that join only.
    await peer.send(t="join", roomId="members-b")
    await peer.expect_error("forbidden")
    # Also after a refused join with a token that was good for another room.
    await peer.send(t="join", roomId="members-b", token=token)
    await peer.expect_error("forbidden")
    await peer.send(t="join", roomId="members-b")
    await peer.expect_error("forbidden")
    await settle()
    session = await PeerSession.objects.aget(peer_id=first["peerId"])
    assert session.user_id == alice.pk


# -- the log ---------------------------------------------------------------------------------------------------------


async def test_one_bad_record_never_costs_the_others_their_place_in_the_log(room_id: str) -> None:
    """A record the database refuses (here: a string SQLite cannot encode) is dropped alone; the batch it came in
    with is written."""
    now = timezone.now()
    recorder = get_recorder()
    good = {
        "room_id": room_id,
        "peer_id": "peer-good",
        "at": now,
        "user_id": None,
        "client_address": "192.0.2.1",
        "user_agent": "test",
    }
    recorder.add(Record(Kind.ROOM_CREATED, {"room_id": room_id, "at": now}))
    recorder.add(
        Record(
            Kind.JOIN_REJECTED,
            {
                "room_id": "p\ud800",
                "code": "invalid-room",
                "message": "x",
                "at": now,
                "user_id": None,
                "client_address": None,
            },
        )
    )
    recorder.add(Record(Kind.PEER_JOINED, good))
    recorder.add(
        Record(
            Kind.PEER_LEFT,
            {"room_id": room_id, "peer_id": "peer-good", "reason": "leave", "at": now + timedelta(seconds=1)},
        )
    )
    await recorder.flush()
    session = await PeerSession.objects.aget(peer_id="peer-good")
    assert session.left_at is not None
    assert session.leave_reason == "leave"
    kinds = [kind async for kind in RoomEvent.objects.filter(room_id=room_id).values_list("kind", flat=True)]
    assert sorted(kinds) == sorted([Kind.ROOM_CREATED, Kind.PEER_JOINED, Kind.PEER_LEFT])


async def test_a_refused_join_of_an_unencodable_room_id_is_recorded_legibly(connect: Connect) -> None:
    peer = await connect()
    await peer.send_text(json.dumps({"t": "join", "roomId": "p\ud800"}))
    await peer.expect_error("invalid-message")
    await peer.send(t="join", roomId="bad/room")
    await peer.expect_error("invalid-room")
    await settle()
    rejected = [event.detail["room_id"] async for event in RoomEvent.objects.filter(kind=Kind.JOIN_REJECTED)]
    assert rejected == ["bad/room"]


Opener = Callable[[], Awaitable[Peer]]
