"""The seed's core protocol and our one-worker extensions, against the consumer through WebsocketCommunicator."""

from __future__ import annotations

import re

import pytest

from signaling.resume import read_resume_token
from tests.conftest import Connect

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("registry_kind")]


async def test_join_answers_with_server_assigned_id_and_room(connect: Connect, room_id: str) -> None:
    alice = await connect()
    joined = await alice.join(room_id)
    assert joined == {
        "t": "joined",
        "peerId": joined["peerId"],
        "roomId": room_id,
        "peers": [],
        "maxPeers": 2,
        "resume": joined["resume"],
        "roles": {},
        "metadata": {},
        "media": {},
    }
    assert read_resume_token(joined["resume"]) == (room_id, joined["peerId"])
    # Unguessable: 96 random bits, URL-safe.
    # The seed's shape (clients may match "peer-..."), with 96 unguessable bits after the prefix.
    assert re.fullmatch(r"peer-[A-Za-z0-9_-]{16}", joined["peerId"])


async def test_peer_ids_are_unique(connect: Connect, room_id: str) -> None:
    ids = set()
    for index in range(3):
        peer = await connect()
        ids.add((await peer.join(f"{room_id}-{index}"))["peerId"])
    assert len(ids) == 3


async def test_second_peer_sees_first_and_first_is_told(connect: Connect, room_id: str) -> None:
    alice, bob = await connect(), await connect()
    await alice.join(room_id)
    joined = await bob.join(room_id)
    assert joined["peers"] == [alice.peer_id]
    assert await alice.receive() == {"t": "peer-joined", "peerId": bob.peer_id}
    await bob.assert_silent()


async def test_offer_answer_and_candidates_are_relayed_with_server_set_from(connect: Connect, room_id: str) -> None:
    alice, bob = await connect(), await connect()
    await alice.join(room_id)
    await bob.join(room_id)
    await alice.receive()  # peer-joined

    offer = {"type": "offer", "sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"}
    await bob.send(t="sdp", to=alice.peer_id, description=offer, **{"from": "forged"})
    assert await alice.receive() == {"t": "sdp", "from": bob.peer_id, "description": offer}

    answer = {"type": "answer", "sdp": "v=0\r\n"}
    await alice.send(t="sdp", to=bob.peer_id, description=answer)
    assert await bob.receive() == {"t": "sdp", "from": alice.peer_id, "description": answer}

    candidate = {
        "candidate": "candidate:1 1 udp 2122260223 10.0.0.1 50000 typ host",
        "sdpMid": "0",
        "sdpMLineIndex": 0,
        "usernameFragment": "abcd",
    }
    await alice.send(t="ice", to=bob.peer_id, candidate=candidate)
    assert await bob.receive() == {"t": "ice", "from": alice.peer_id, "candidate": candidate}
    await bob.send(t="ice", candidate=candidate)  # no `to`: everyone else in the room
    assert await alice.receive() == {"t": "ice", "from": bob.peer_id, "candidate": candidate}
    await alice.assert_silent()
    await bob.assert_silent()


async def test_relayed_fields_are_reduced_to_the_protocol(connect: Connect, room_id: str) -> None:
    alice, bob = await connect(), await connect()
    await alice.join(room_id)
    await bob.join(room_id)
    await alice.receive()
    await bob.send(t="sdp", description={"type": "rollback", "extra": "x" * 100})
    assert await alice.receive() == {"t": "sdp", "from": bob.peer_id, "description": {"type": "rollback"}}
    await bob.send(t="ice", candidate={"candidate": "", "junk": [1, 2]})
    assert await alice.receive() == {"t": "ice", "from": bob.peer_id, "candidate": {"candidate": ""}}


async def test_broadcast_reaches_every_other_member(connect: Connect, room_id: str) -> None:
    peers = [await connect(max_peers=4) for _ in range(4)]
    for index, peer in enumerate(peers):
        await peer.join(room_id)
        for earlier in peers[:index]:
            assert (await earlier.receive())["t"] == "peer-joined"
    await peers[0].send(t="ice", candidate={"candidate": "c"})
    for other in peers[1:]:
        assert (await other.receive())["from"] == peers[0].peer_id
    await peers[0].assert_silent()


async def test_messages_never_cross_rooms(connect: Connect, room_id: str) -> None:
    alice, bob, eve = await connect(), await connect(), await connect()
    await alice.join(room_id)
    await bob.join(room_id)
    await alice.receive()
    await eve.join(f"{room_id}-other")
    # `to` naming a peer of another room is dropped silently, and a broadcast stays in its room.
    await eve.send(t="sdp", to=alice.peer_id, description={"type": "offer", "sdp": "x"})
    await eve.send(t="ice", candidate={"candidate": "c"})
    await alice.send(t="ice", to="no-such-peer", candidate={"candidate": "c"})
    await alice.send(t="ice", to=alice.peer_id, candidate={"candidate": "c"})
    for peer in (alice, bob, eve):
        await peer.assert_silent()
    await eve.assert_still_serving()


async def test_room_full_refuses_and_keeps_the_socket(connect: Connect, room_id: str) -> None:
    alice, bob, carol = await connect(), await connect(), await connect()
    await alice.join(room_id)
    await bob.join(room_id)
    await carol.send(t="join", roomId=room_id)
    await carol.expect_error("room-full", "Room is full (max 2 peers)")
    await carol.assert_still_serving()
    await alice.receive()  # bob's peer-joined, and nothing about carol
    await alice.assert_silent()
    # Once a seat frees up, the same socket may join.
    await bob.close()
    assert await alice.receive() == {"t": "peer-left", "peerId": bob.peer_id, "reason": "disconnect"}
    assert (await carol.join(room_id))["peers"] == [alice.peer_id]


async def test_close_tells_the_others_with_reason_disconnect(connect: Connect, room_id: str) -> None:
    alice, bob = await connect(), await connect()
    await alice.join(room_id)
    await bob.join(room_id)
    await alice.receive()
    await alice.close()
    assert await bob.receive() == {"t": "peer-left", "peerId": alice.peer_id, "reason": "disconnect"}


async def test_leave_keeps_the_socket_and_allows_a_new_join(connect: Connect, room_id: str) -> None:
    alice, bob = await connect(), await connect()
    await alice.join(room_id)
    await bob.join(room_id)
    await alice.receive()
    first_id = bob.peer_id
    await bob.send(t="leave")
    assert await alice.receive() == {"t": "peer-left", "peerId": first_id, "reason": "leave"}
    await bob.send(t="ice", candidate={"candidate": "c"})
    await bob.expect_error("not-in-room", "Not in a room")
    rejoined = await bob.join(room_id)
    assert rejoined["peerId"] != first_id
    assert rejoined["peers"] == [alice.peer_id]
    assert await alice.receive() == {"t": "peer-joined", "peerId": rejoined["peerId"]}


async def test_ping_pong_echoes_ts_and_works_before_join(connect: Connect) -> None:
    peer = await connect()
    await peer.send(t="ping", ts=1234.5)
    assert await peer.receive() == {"t": "pong", "ts": 1234.5}
    await peer.send(t="ping")
    assert await peer.receive() == {"t": "pong"}
    await peer.send(t="ping", ts=-(2**53))
    assert await peer.receive() == {"t": "pong", "ts": -(2**53)}


@pytest.mark.parametrize(
    "ts", ['"abc"', '"' + "9" * 60_000 + '"', "NaN", "Infinity", "-Infinity", "1e400", "true", "[1]", str(2**70)]
)
async def test_ping_ts_must_be_a_finite_number(connect: Connect, ts: str) -> None:
    """A ping's `ts` is echoed back: only a number is, never a string of 60,000 characters to amplify."""
    peer = await connect()
    await peer.send_text('{"t": "ping", "ts": ' + ts + "}")
    await peer.expect_error("invalid-message", "Invalid message format")
    await peer.assert_still_serving()


async def test_messages_from_one_peer_arrive_in_order(connect: Connect, room_id: str) -> None:
    alice, bob = await connect(), await connect()
    await alice.join(room_id)
    await bob.join(room_id)
    await alice.receive()
    for index in range(50):
        await bob.send(t="ice", to=alice.peer_id, candidate={"candidate": f"c{index}"})
    received = [(await alice.receive())["candidate"]["candidate"] for _ in range(50)]
    assert received == [f"c{index}" for index in range(50)]


async def test_max_peers_option_sets_capacity(connect: Connect, room_id: str) -> None:
    peers = [await connect(max_peers=3) for _ in range(4)]
    for peer in peers[:3]:
        assert (await peer.join(room_id))["maxPeers"] == 3
    await peers[3].send(t="join", roomId=room_id)
    await peers[3].expect_error("room-full", "Room is full (max 3 peers)")


async def test_settings_default_capacity(connect: Connect, room_id: str, settings) -> None:  # type: ignore[no-untyped-def]
    settings.SIGNALING = {**settings.SIGNALING, "MAX_PEERS": 5}
    peer = await connect()
    assert (await peer.join(room_id))["maxPeers"] == 5


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"max_peers": 0}, ValueError),
        ({"max_peers": "4"}, ValueError),
        ({"max_peers": True}, ValueError),
        ({"callbacks": {"on_peer_joined": print}}, TypeError),
        ({"callbacks": {"on_peer_join": "not callable"}}, TypeError),
        ({"callbacks": ["on_peer_join"]}, TypeError),
        ({"unknown_option": 1}, TypeError),
    ],
)
def test_bad_mount_options_fail_when_mounted(options: dict, error: type[Exception]) -> None:
    from signaling.consumer import SignalingConsumer

    with pytest.raises(error):
        SignalingConsumer.as_asgi(**options)
