"""Who may join: anonymous, authenticated and token-only rooms, and room tokens on `join.token` or `?token=`."""

from __future__ import annotations

import time
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.core import signing

from rooms.models import PeerSession, Room, RoomEvent
from signaling.consumer import SignalingConsumer
from signaling.tokens import issue_room_token
from tests.conftest import Connect, Peer, settle

pytestmark = pytest.mark.django_db(transaction=True)


async def open_with_query(query: str) -> Peer:
    communicator = WebsocketCommunicator(SignalingConsumer.as_asgi(), f"/api/call/signal?{query}")
    connected, _ = await communicator.connect()
    assert connected
    return Peer(communicator)


async def test_token_room_needs_a_token_for_that_room(connect: Connect, room_id: str) -> None:
    await Room.objects.acreate(id=room_id, access="token")
    stranger = await connect()
    await stranger.send(t="join", roomId=room_id)
    await stranger.expect_error("forbidden", "This room needs a room token")
    await stranger.assert_still_serving()

    token, expires = issue_room_token(room_id, None)
    assert expires > time.time() + 250
    await stranger.send(t="join", roomId=room_id, token=token)
    joined = await stranger.receive()
    assert joined["t"] == "joined"

    other_token, _ = issue_room_token("another-room", None)
    guest = await connect()
    await guest.send(t="join", roomId=room_id, token=other_token)
    await guest.expect_error("forbidden", "Invalid or expired room token")
    await settle()
    assert await RoomEvent.objects.filter(kind="join_rejected", detail__code="forbidden").acount() == 2


async def test_token_in_the_socket_url(room_id: str) -> None:
    await Room.objects.acreate(id=room_id, access="token")
    token, _ = issue_room_token(room_id, None)
    peer = await open_with_query(f"room={room_id}&token={token}")
    try:
        assert (await peer.join(room_id))["roomId"] == room_id
    finally:
        await peer.close()


@pytest.mark.parametrize("token", [42, "", "x" * 2000, "not-a-token", None])
async def test_malformed_or_tampered_tokens_are_forbidden(connect: Connect, room_id: str, token: Any) -> None:
    await Room.objects.acreate(id=room_id, access="token")
    good, _ = issue_room_token(room_id, None)
    # None stands for a real token with one character changed.
    sent = good[:-2] + ("A" if good[-2] != "A" else "B") + good[-1] if token is None else token
    peer = await connect()
    await peer.send(t="join", roomId=room_id, token=sent)
    await peer.expect_error("forbidden", "Invalid or expired room token")


async def test_expired_token_is_forbidden(connect: Connect, room_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    await Room.objects.acreate(id=room_id, access="token")
    real_time = time.time
    monkeypatch.setattr(signing.time, "time", lambda: real_time() - 301)  # issued 301 s ago (TTL 300)
    token, _ = issue_room_token(room_id, None)
    monkeypatch.setattr(signing.time, "time", real_time)
    peer = await connect()
    await peer.send(t="join", roomId=room_id, token=token)
    await peer.expect_error("forbidden", "Invalid or expired room token")


async def test_authenticated_room_takes_a_user_token_and_records_the_user(connect: Connect, room_id: str) -> None:
    await Room.objects.acreate(id=room_id, access="authenticated")
    user = await User.objects.acreate_user("dana")
    anonymous = await connect()
    await anonymous.send(t="join", roomId=room_id)
    await anonymous.expect_error("forbidden", "Log in, or bring a room token, to join this room")
    token, _ = issue_room_token(room_id, user.pk)
    await anonymous.send(t="join", roomId=room_id, token=token)
    joined = await anonymous.receive()
    assert joined["t"] == "joined"
    await settle()
    session = await PeerSession.objects.select_related("user").aget(peer_id=joined["peerId"])
    assert session.user == user


async def test_socket_room_hint_must_match_the_join(room_id: str) -> None:
    peer = await open_with_query("room=somewhere-else")
    try:
        await peer.send(t="join", roomId=room_id)
        await peer.expect_error("invalid-room", "roomId does not match the socket's ?room=")
    finally:
        await peer.close()


async def test_anonymous_and_ad_hoc_rooms_need_no_token(connect: Connect, room_id: str) -> None:
    await Room.objects.acreate(id=room_id)
    peer = await connect()
    assert (await peer.join(room_id))["t"] == "joined"
    ad_hoc = await connect()
    assert (await ad_hoc.join(f"{room_id}-adhoc"))["t"] == "joined"
