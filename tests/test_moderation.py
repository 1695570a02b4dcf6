"""Moderation on live sockets: kicking a peer and closing a room (signaling.moderation), on both registries."""

from __future__ import annotations

import pytest

from rooms.models import PeerSession, Room, RoomEvent
from signaling import moderation
from tests.conftest import Connect, settle

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("registry_kind")]


async def test_kick_closes_the_socket_and_tells_the_room(connect: Connect, room_id: str) -> None:
    alice, bob = await connect(), await connect()
    await alice.join(room_id)
    await bob.join(room_id)
    await alice.receive()  # peer-joined
    assert sorted(moderation.room_members(room_id)) == sorted([alice.peer_id, bob.peer_id])

    assert await moderation.kick(room_id, bob.peer_id) is True
    assert await bob.receive() == {"t": "closed", "reason": "kicked"}
    assert await bob.receive_close() == 4010
    bob.closed = True
    assert await alice.receive() == {"t": "peer-left", "peerId": bob.peer_id, "reason": "kicked"}
    await alice.assert_still_serving()
    assert moderation.room_members(room_id) == [alice.peer_id]
    await settle()
    session = await PeerSession.objects.aget(peer_id=bob.peer_id)
    assert session.leave_reason == "kicked"
    assert session.left_at is not None
    assert await RoomEvent.objects.filter(peer_id=bob.peer_id, kind="peer_left").acount() == 1


async def test_kicking_nobody_reaches_nobody(connect: Connect, room_id: str) -> None:
    alice = await connect()
    await alice.join(room_id)
    assert await moderation.kick(room_id, "no-such-peer") is False
    assert await moderation.kick("no-such-room", alice.peer_id or "") is False
    await alice.assert_still_serving()


async def test_closing_a_room_ends_every_member_and_refuses_joins(connect: Connect, room_id: str) -> None:
    await Room.objects.acreate(id=room_id, max_peers=4)
    peers = [await connect() for _ in range(3)]
    for peer in peers:
        await peer.join(room_id)
    await Room.objects.filter(pk=room_id).aupdate(is_open=False)
    assert await moderation.close_room(room_id) == 3
    for peer in peers:
        frames = []
        while (frame := await peer.receive())["t"] != "closed":
            frames.append(frame)
        assert frame == {"t": "closed", "reason": "room-closed"}
        assert all(f["t"] in ("peer-joined", "peer-left") for f in frames)
        assert await peer.receive_close() == 4011
        peer.closed = True
    assert moderation.room_members(room_id) == []
    # The resolver forgot the room it had cached as open: the next join reads it closed.
    late = await connect()
    await late.send(t="join", roomId=room_id)
    await late.expect_error("room-closed", "Room is closed")
    await settle()
    reasons = [s.leave_reason async for s in PeerSession.objects.filter(room_id=room_id)]
    assert reasons == ["room-closed"] * 3
    assert await RoomEvent.objects.filter(room_id=room_id, kind="room_destroyed").aexists()


async def test_kicking_a_peer_waiting_to_resume_ends_its_stay(connect: Connect, room_id: str) -> None:
    alice, bob = await connect(), await connect()
    await alice.join(room_id)
    joined = await bob.join(room_id)
    await alice.receive()
    await bob.drop()
    assert await moderation.kick(room_id, bob.peer_id or "") is True
    assert await alice.receive() == {"t": "peer-left", "peerId": bob.peer_id, "reason": "kicked"}
    # Its resume token no longer brings it back under the old id.
    again = await connect()
    await again.send(t="join", roomId=room_id, resume=joined["resume"])
    fresh = await again.receive()
    assert fresh["t"] == "joined"
    assert fresh["peerId"] != bob.peer_id
