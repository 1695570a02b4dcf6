"""Every kind of bad input gets its documented error and code; the socket keeps serving and nothing leaks."""

from __future__ import annotations

import json

import pytest

from tests.conftest import Connect

pytestmark = pytest.mark.django_db(transaction=True)

OFFER = {"type": "offer", "sdp": "v=0"}


@pytest.mark.parametrize(
    ("text", "code", "message"),
    [
        ("{not json", "invalid-json", "Invalid JSON"),
        ("", "invalid-json", "Invalid JSON"),
        ("[1, 2]", "invalid-message", "Invalid message format"),
        ('"join"', "invalid-message", "Invalid message format"),
        ("42", "invalid-message", "Invalid message format"),
        ("null", "invalid-message", "Invalid message format"),
        ('{"roomId": "a"}', "invalid-message", "Invalid message format"),
        ('{"t": 5}', "invalid-message", "Invalid message format"),
        ('{"t": null}', "invalid-message", "Invalid message format"),
        ('{"t": "dance"}', "unknown-type", "Unknown message type: dance"),
        ('{"t": "__init__"}', "unknown-type", "Unknown message type: __init__"),
        ('{"t": "websocket.disconnect"}', "unknown-type", "Unknown message type: websocket.disconnect"),
        ('{"t": "join"}', "invalid-room", "Missing or invalid roomId"),
        ('{"t": "join", "roomId": 7}', "invalid-room", "Missing or invalid roomId"),
        ('{"t": "join", "roomId": ""}', "invalid-room", "Missing or invalid roomId"),
        ('{"t": "join", "roomId": "a/b"}', "invalid-room", "Missing or invalid roomId"),
        ('{"t": "join", "roomId": "a b"}', "invalid-room", "Missing or invalid roomId"),
        ('{"t": "join", "roomId": "room\\n"}', "invalid-room", "Missing or invalid roomId"),
        (json.dumps({"t": "join", "roomId": "x" * 129}), "invalid-room", "Missing or invalid roomId"),
        ('{"t": "join", "roomId": ["a"]}', "invalid-room", "Missing or invalid roomId"),
        ('{"t": "sdp", "description": {"type": "offer", "sdp": "x"}}', "not-in-room", "Not in a room"),
        ('{"t": "ice", "candidate": {"candidate": "x"}}', "not-in-room", "Not in a room"),
        ('{"t": "leave"}', "not-in-room", "Not in a room"),
        ('{"t": "ping", "ts": {"a": 1}}', "invalid-message", "Invalid message format"),
    ],
)
async def test_bad_frame_before_join(connect: Connect, text: str, code: str, message: str) -> None:
    peer = await connect()
    await peer.send_text(text)
    assert await peer.receive() == {"t": "error", "code": code, "message": message}
    await peer.assert_still_serving()


@pytest.mark.parametrize(
    ("message", "code", "text"),
    [
        ({"t": "sdp"}, "invalid-message", "Missing or invalid description"),
        ({"t": "sdp", "description": "offer"}, "invalid-message", "Missing or invalid description"),
        ({"t": "sdp", "description": {"sdp": "x"}}, "invalid-message", "Missing or invalid description"),
        (
            {"t": "sdp", "description": {"type": "bogus", "sdp": "x"}},
            "invalid-message",
            "Missing or invalid description",
        ),
        ({"t": "sdp", "description": {"type": "offer", "sdp": 5}}, "invalid-message", "Missing or invalid description"),
        ({"t": "sdp", "description": OFFER, "to": 12}, "invalid-message", "Invalid message format"),
        ({"t": "ice"}, "invalid-message", "Missing or invalid candidate"),
        ({"t": "ice", "candidate": None}, "invalid-message", "Missing or invalid candidate"),
        ({"t": "ice", "candidate": "candidate:1"}, "invalid-message", "Missing or invalid candidate"),
        ({"t": "ice", "candidate": {"sdpMid": "0"}}, "invalid-message", "Missing or invalid candidate"),
        (
            {"t": "ice", "candidate": {"candidate": "c", "sdpMLineIndex": "0"}},
            "invalid-message",
            "Missing or invalid candidate",
        ),
        (
            {"t": "ice", "candidate": {"candidate": "c", "sdpMLineIndex": True}},
            "invalid-message",
            "Missing or invalid candidate",
        ),
        ({"t": "ice", "candidate": {"candidate": "c"}, "to": ["x"]}, "invalid-message", "Invalid message format"),
    ],
)
async def test_bad_relay_in_a_room_reaches_nobody(
    connect: Connect, room_id: str, message: dict, code: str, text: str
) -> None:
    alice, bob = await connect(), await connect()
    await alice.join(room_id)
    await bob.join(room_id)
    await alice.receive()
    await bob.send(**message)
    await bob.expect_error(code, text)
    await alice.assert_silent()
    await bob.assert_still_serving()
    # The sender is still in its room and can relay.
    await bob.send(t="sdp", description=OFFER)
    assert (await alice.receive())["from"] == bob.peer_id


async def test_second_join_is_refused_and_membership_kept(connect: Connect, room_id: str) -> None:
    alice, bob = await connect(), await connect()
    await alice.join(room_id)
    await bob.join(room_id)
    await alice.receive()
    await bob.send(t="join", roomId=f"{room_id}-elsewhere")
    await bob.expect_error("already-joined", "Already in a room")
    await bob.send(t="join", roomId=room_id)
    await bob.expect_error("already-joined", "Already in a room")
    await bob.send(t="ice", candidate={"candidate": "still here"})
    assert (await alice.receive())["candidate"] == {"candidate": "still here"}


async def test_binary_frame_is_refused(connect: Connect) -> None:
    peer = await connect()
    await peer.send_bytes(b'{"t": "ping"}')
    await peer.expect_error("invalid-message", "Binary frames are not supported")
    await peer.assert_still_serving()


async def test_frame_over_the_size_limit_is_refused_unrelayed(connect: Connect, room_id: str) -> None:
    alice, bob = await connect(), await connect()
    await alice.join(room_id)
    await bob.join(room_id)
    await alice.receive()
    big = {"t": "sdp", "description": {"type": "offer", "sdp": "a" * (64 * 1024)}}
    await bob.send(**big)
    await bob.expect_error("too-large", "Message too large (max 65536 bytes)")
    await alice.assert_silent()
    await bob.assert_still_serving()


async def test_size_limit_counts_utf8_bytes_not_characters(connect: Connect, room_id: str, settings) -> None:  # type: ignore[no-untyped-def]
    settings.SIGNALING = {**settings.SIGNALING, "MAX_MESSAGE_BYTES": 1000}
    alice, bob = await connect(), await connect()
    await alice.join(room_id)
    await bob.join(room_id)
    await alice.receive()
    # 400 characters of three bytes each: under the limit in characters, over it in bytes.
    await bob.send_text(json.dumps({"t": "ice", "candidate": {"candidate": "€" * 400}}, ensure_ascii=False))
    await bob.expect_error("too-large", "Message too large (max 1000 bytes)")
    await bob.send_text(json.dumps({"t": "ice", "candidate": {"candidate": "€" * 200}}, ensure_ascii=False))
    assert (await alice.receive())["candidate"]["candidate"] == "€" * 200


async def test_unknown_type_cannot_reach_internal_handlers(connect: Connect, room_id: str) -> None:
    alice, bob = await connect(), await connect()
    await alice.join(room_id)
    await bob.join(room_id)
    await alice.receive()
    for kind in ("leave_room", "handle_join", "disconnect", "websocket_disconnect", "end", "refuse"):
        await bob.send(t=kind)
        await bob.expect_error("unknown-type", f"Unknown message type: {kind}")
    await alice.assert_silent()
