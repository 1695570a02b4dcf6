"""End to end: the reference project under a real daphne process, clients over real WebSockets."""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from rooms.models import PeerSession, Room, RoomEvent
from rtcsite.servers import DaphneProcess
from tests.wsclient import eventually, offer_and_answer, receive, send

pytestmark = pytest.mark.django_db(transaction=True)

SIGNAL_PATH = "/api/call/signal"


@pytest.fixture(scope="module")
def server(django_db_setup: None, django_db_blocker: Any) -> Iterator[DaphneProcess]:
    # The server writes to the test database, a file this process reads too.
    database = connection.settings_dict["NAME"]
    with DaphneProcess(env={"RTCSITE_DATABASE_URL": f"sqlite:///{database}"}) as daphne:
        yield daphne
        print(daphne.output())  # shown by pytest when a test of this module fails


async def test_seed_protocol_call_through_daphne(server: DaphneProcess, room_id: str) -> None:
    url = server.ws_url + SIGNAL_PATH
    async with connect(url) as alice, connect(url) as bob, connect(url) as carol:
        await send(alice, t="join", roomId=room_id)
        joined_a = await receive(alice)
        assert joined_a["t"] == "joined"
        assert joined_a["peers"] == []
        assert joined_a["maxPeers"] == 2
        await send(bob, t="join", roomId=room_id)
        joined_b = await receive(bob)
        a, b = joined_a["peerId"], joined_b["peerId"]
        assert joined_b["peers"] == [a]
        assert await receive(alice) == {"t": "peer-joined", "peerId": b}

        # The joiner offers to every peer it found; answer and candidates flow back and forth.
        await offer_and_answer(bob, b, alice, a)
        candidate = {
            "candidate": "candidate:842163049 1 udp 1677729535 192.0.2.1 3478 typ srflx",
            "sdpMid": "0",
            "sdpMLineIndex": 0,
        }
        await send(alice, t="ice", to=b, candidate=candidate)
        await send(bob, t="ice", to=a, candidate=candidate)
        assert await receive(bob) == {"t": "ice", "from": a, "candidate": candidate}
        assert await receive(alice) == {"t": "ice", "from": b, "candidate": candidate}

        await send(carol, t="join", roomId=room_id)
        assert await receive(carol) == {"t": "error", "code": "room-full", "message": "Room is full (max 2 peers)"}
        await send(carol, t="ping", ts=1)
        assert await receive(carol) == {"t": "pong", "ts": 1}

        await bob.close()
        assert await receive(alice) == {"t": "peer-left", "peerId": b, "reason": "disconnect"}

    async def all_recorded() -> bool:
        return await RoomEvent.objects.filter(room_id=room_id, kind="room_destroyed").aexists()

    await eventually(all_recorded)
    sessions = {s.peer_id: s async for s in PeerSession.objects.filter(room_id=room_id)}
    assert set(sessions) == {a, b}
    assert sessions[b].leave_reason == "disconnect"
    assert sessions[b].client_address == "127.0.0.1"
    assert sessions[a].leave_reason == "disconnect"
    assert sessions[a].left_at is not None
    kinds = [(e.kind, e.peer_id) async for e in RoomEvent.objects.filter(room_id=room_id).order_by("at", "id")]
    assert kinds == [
        ("room_created", ""),
        ("peer_joined", a),
        ("peer_joined", b),
        ("join_rejected", ""),
        ("peer_left", b),
        ("peer_left", a),
        ("room_destroyed", ""),
    ]


async def test_twenty_simultaneous_joins_fill_a_room_of_four_exactly(server: DaphneProcess, room_id: str) -> None:
    await Room.objects.acreate(id=room_id, max_peers=4)
    url = server.ws_url + SIGNAL_PATH
    sockets = await asyncio.gather(*(connect(url) for _ in range(20)))
    try:
        await asyncio.gather(*(send(socket, t="join", roomId=room_id) for socket in sockets))
        answers = await asyncio.gather(*(receive(socket) for socket in sockets))
        admitted = [answer for answer in answers if answer["t"] == "joined"]
        refused = [answer for answer in answers if answer["t"] == "error"]
        assert len(admitted) == 4
        assert len(refused) == 16
        assert {answer["code"] for answer in refused} == {"room-full"}
        assert {answer["message"] for answer in refused} == {"Room is full (max 4 peers)"}
        assert {len(answer["peers"]) for answer in admitted} == {0, 1, 2, 3}
    finally:
        await asyncio.gather(*(socket.close() for socket in sockets))

    async def all_recorded() -> bool:
        return await RoomEvent.objects.filter(room_id=room_id, kind="room_destroyed").aexists()

    await eventually(all_recorded)
    assert await PeerSession.objects.filter(room_id=room_id).acount() == 4
    assert await RoomEvent.objects.filter(room_id=room_id, kind="join_rejected").acount() == 16


async def test_foreign_origin_is_refused_by_the_server(server: DaphneProcess) -> None:
    async with connect(server.ws_url + SIGNAL_PATH, origin="https://evil.example.net") as socket:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(socket.recv(), 5)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4003


def test_demo_pages_are_served(server: DaphneProcess) -> None:
    with urllib.request.urlopen(server.http_url + "/", timeout=10) as response:
        assert response.status == 200
        assert "Join video call" in response.read().decode()
    for page in ("call", "chat"):
        with urllib.request.urlopen(f"{server.http_url}/{page}/demo-room/", timeout=10) as response:
            body = response.read().decode()
        assert response.status == 200
        assert f'data-signal="{SIGNAL_PATH}"' in body
        assert 'data-room="demo-room"' in body
