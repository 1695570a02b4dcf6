"""Moderation on live sockets: kicking a peer and closing a room (signaling.moderation), on both registries."""

from __future__ import annotations

import asyncio
from typing import Any

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


@pytest.mark.parametrize("when", ["away", "connected"])
@pytest.mark.parametrize("how", ["kick", "close"])
async def test_a_peer_evicted_while_it_was_away_is_told_so_when_it_comes_back(
    connect: Connect, room_id: str, how: str, when: str, settings: Any
) -> None:
    """Kicked (or its room closed) while its socket was down, or while connected by a close its client never took
    (a socket that broke as it came: the client resumes): its resume is told so, as its socket would have been,
    and it does not come back as a new peer; once the grace is over, a new join is an ordinary one."""
    settings.SIGNALING = {**settings.SIGNALING, "RESUME_GRACE": 1.0}
    await Room.objects.acreate(id=room_id, max_peers=4)
    alice, bob = await connect(), await connect()
    await alice.join(room_id)
    joined = await bob.join(room_id)
    await alice.receive()
    if when == "away":
        await bob.drop()
    reason, code = ("kicked", 4010) if how == "kick" else ("room-closed", 4011)
    if how == "kick":
        assert await moderation.kick(room_id, bob.peer_id or "") is True
        assert await alice.receive() == {"t": "peer-left", "peerId": bob.peer_id, "reason": "kicked"}
    else:
        assert await moderation.close_room(room_id) == 2
        # Bob's departure may reach Alice before her own end (the Redis registry ends parked peers first).
        while (frame := await alice.receive())["t"] != "closed":
            assert frame == {"t": "peer-left", "peerId": bob.peer_id, "reason": reason}
        assert frame == {"t": "closed", "reason": "room-closed"}
        alice.closed = True
    if when == "connected":
        # Told on its socket; its client is taken not to have heard (it resumes below, as one that did not).
        while (frame := await bob.receive())["t"] != "closed":
            assert frame == {"t": "peer-left", "peerId": alice.peer_id, "reason": reason}  # a room closed
        assert frame == {"t": "closed", "reason": reason}
        assert await bob.receive_close() == code
        bob.closed = True
    for _ in range(2):  # and again: a client that did not take the first answer asks anew
        again = await connect()
        await again.send(t="join", roomId=room_id, resume=joined["resume"])
        assert await again.receive() == {"t": "closed", "reason": reason}
        assert await again.receive_close() == code
        again.closed = True
    if how == "kick":
        await alice.assert_silent()  # nobody came in
    assert bob.peer_id not in moderation.room_members(room_id)
    await settle()
    assert await PeerSession.objects.filter(room_id=room_id).acount() == 2
    assert [s.leave_reason async for s in PeerSession.objects.filter(peer_id=bob.peer_id)] == [reason]
    if how == "kick":
        # A kick is not a ban: after the grace the old token makes an ordinary join.
        deadline = asyncio.get_running_loop().time() + 5
        while True:
            late = await connect()
            await late.send(t="join", roomId=room_id, resume=joined["resume"])
            frame = await late.receive()
            if frame["t"] == "joined" or asyncio.get_running_loop().time() > deadline:
                break
            assert await late.receive_close() == code
            late.closed = True
            await asyncio.sleep(0.1)
        assert frame["t"] == "joined"
        assert frame["peerId"] != bob.peer_id
