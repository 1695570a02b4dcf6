"""Stored rooms govern joins, and every lifecycle event ends up as rows, written off the relay path."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.test import Client

from rooms import recorder
from rooms.models import PeerSession, Room, RoomEvent
from rooms.resolver import ModelRoomResolver
from signaling.auth import AuthMiddlewareStack
from signaling.consumer import SignalingConsumer
from signaling.policy import RoomPolicy
from tests.conftest import Connect, settle

pytestmark = pytest.mark.django_db(transaction=True)


async def test_stored_max_peers_overrides_the_endpoint(connect: Connect, room_id: str) -> None:
    await Room.objects.acreate(id=room_id, max_peers=3)
    peers = [await connect(max_peers=2) for _ in range(4)]
    for peer in peers[:3]:
        assert (await peer.join(room_id))["maxPeers"] == 3
    await peers[3].send(t="join", roomId=room_id)
    await peers[3].expect_error("room-full", "Room is full (max 3 peers)")


async def test_stored_room_without_max_peers_uses_the_endpoint(connect: Connect, room_id: str) -> None:
    await Room.objects.acreate(id=room_id, name="Standup")
    peer = await connect(max_peers=6)
    assert (await peer.join(room_id))["maxPeers"] == 6


async def test_closed_room_refuses_joins(connect: Connect, room_id: str) -> None:
    await Room.objects.acreate(id=room_id, is_open=False)
    peer = await connect()
    await peer.send(t="join", roomId=room_id)
    await peer.expect_error("room-closed", "Room is closed")
    await peer.assert_still_serving()


async def test_closing_a_room_takes_effect_for_the_next_join(connect: Connect, room_id: str) -> None:
    room = await Room.objects.acreate(id=room_id, max_peers=4)
    alice = await connect()
    await alice.join(room_id)  # the room's policy is now cached
    room.is_open = False
    await room.asave()  # post_save forgets the cached policy in this process
    bob = await connect()
    await bob.send(t="join", roomId=room_id)
    await bob.expect_error("room-closed")


async def test_unknown_room_refused_when_ad_hoc_rooms_are_off(connect: Connect, room_id: str, settings) -> None:  # type: ignore[no-untyped-def]
    settings.SIGNALING = {**settings.SIGNALING, "ALLOW_AD_HOC_ROOMS": False}
    await Room.objects.acreate(id=room_id)
    peer = await connect()
    await peer.send(t="join", roomId=f"{room_id}-unknown")
    await peer.expect_error("invalid-room", "Room not found")
    assert (await peer.join(room_id))["roomId"] == room_id


async def test_concurrent_lookups_share_one_query(room_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    queries: list[list[str]] = []
    original = ModelRoomResolver.fetch

    def counting_fetch(self: ModelRoomResolver, room_ids: Any) -> Any:
        queries.append(sorted(room_ids))
        return original(self, room_ids)

    monkeypatch.setattr(ModelRoomResolver, "fetch", counting_fetch)
    resolver = ModelRoomResolver()
    await Room.objects.acreate(id=room_id, max_peers=7)
    ModelRoomResolver.forget(room_id)
    others = [f"{room_id}-{index}" for index in range(5)]
    policies = await asyncio.gather(*(resolver.resolve(rid) for rid in [room_id] * 20 + others))
    assert policies[:20] == [RoomPolicy(max_peers=7, is_open=True)] * 20
    assert policies[20:] == [None] * 5  # not stored: ad hoc
    assert queries == [sorted([room_id, *others])]
    await resolver.resolve(room_id)
    await resolver.resolve(others[0])
    assert len(queries) == 1  # both answers cached, the stored room and the missing one


async def test_lookup_failure_reaches_the_joiner(
    connect: Connect, room_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.db import OperationalError

    def broken(self: ModelRoomResolver, room_ids: Any) -> Any:
        raise OperationalError("no such table")

    monkeypatch.setattr(ModelRoomResolver, "fetch", broken)
    peer = await connect()
    await peer.send(t="join", roomId=room_id)
    await peer.expect_error("internal", "Internal error")
    monkeypatch.undo()
    assert (await peer.join(room_id))["roomId"] == room_id


async def test_lifecycle_is_recorded(connect: Connect, room_id: str) -> None:
    alice = await connect(headers=[(b"user-agent", b"TestBrowser/1.0")])
    bob, carol = await connect(), await connect()
    await alice.join(room_id)
    await bob.join(room_id)
    await alice.receive()
    await carol.send(t="join", roomId=room_id)
    await carol.expect_error("room-full")
    await carol.send(t="join", roomId="bad/room")
    await carol.expect_error("invalid-room")
    await bob.send(t="leave")
    await alice.receive()
    await alice.close()
    await settle()

    room = await Room.objects.aget(id=room_id)
    assert room.is_open
    assert room.max_peers is None
    sessions = {s.peer_id: s async for s in PeerSession.objects.filter(room=room)}
    assert set(sessions) == {alice.peer_id, bob.peer_id}
    assert sessions[alice.peer_id].leave_reason == "disconnect"
    assert sessions[alice.peer_id].user_agent == "TestBrowser/1.0"
    assert sessions[alice.peer_id].client_address is None  # the communicator has no client address
    assert sessions[bob.peer_id].leave_reason == "leave"
    assert all(s.left_at is not None and s.left_at >= s.joined_at for s in sessions.values())

    events = [e async for e in RoomEvent.objects.filter(room=room).order_by("at", "id")]
    assert [(e.kind, e.peer_id) for e in events] == [
        ("room_created", ""),
        ("peer_joined", alice.peer_id),
        ("peer_joined", bob.peer_id),
        ("join_rejected", ""),
        ("peer_left", bob.peer_id),
        ("peer_left", alice.peer_id),
        ("room_destroyed", ""),
    ]
    rejected = events[3].detail
    assert rejected["code"] == "room-full"
    assert rejected["message"] == "Room is full (max 2 peers)"
    invalid = await RoomEvent.objects.aget(kind="join_rejected", room__isnull=True)
    assert invalid.detail["room_id"] == "bad/room"
    assert invalid.detail["code"] == "invalid-room"
    assert not await Room.objects.filter(id="bad/room").aexists()


async def test_authenticated_user_is_recorded(room_id: str) -> None:
    user = await sync_to_async(get_user_model().objects.create_user)("ada", password="pw")

    def session_cookie() -> str:
        client = Client()
        client.force_login(user)
        return client.cookies["sessionid"].value

    cookie = await sync_to_async(session_cookie)()
    from channels.testing import WebsocketCommunicator

    application = AuthMiddlewareStack(SignalingConsumer.as_asgi())
    communicator = WebsocketCommunicator(
        application, "/api/call/signal", headers=[(b"cookie", f"sessionid={cookie}".encode())]
    )
    assert (await communicator.connect())[0]
    await communicator.send_json_to({"t": "join", "roomId": room_id})
    joined = await communicator.receive_json_from()
    await communicator.disconnect()
    await settle()
    session = await PeerSession.objects.select_related("user").aget(peer_id=joined["peerId"])
    assert session.user == user


async def test_socket_without_session_is_anonymous_without_a_lookup(
    room_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from channels.testing import WebsocketCommunicator

    async def no_lookup(scope: Any) -> Any:
        raise AssertionError("the user was looked up")

    monkeypatch.setattr("channels.auth.get_user", no_lookup)
    communicator = WebsocketCommunicator(AuthMiddlewareStack(SignalingConsumer.as_asgi()), "/api/call/signal")
    assert (await communicator.connect())[0]
    await communicator.send_json_to({"t": "join", "roomId": room_id})
    joined = await communicator.receive_json_from()
    await communicator.disconnect()
    await settle()
    session = await PeerSession.objects.aget(peer_id=joined["peerId"])
    assert session.user_id is None


async def test_events_that_gather_during_a_write_share_the_next_batch(
    room_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.utils import timezone

    batches: list[int] = []
    original = recorder.write_batch

    def counting(records: Any) -> None:
        batches.append(len(records))
        original(records)

    monkeypatch.setattr(recorder, "write_batch", counting)
    event_recorder = recorder.get_recorder()
    now = timezone.now()
    event_recorder.add(recorder.Record(RoomEvent.Kind.ROOM_CREATED, {"room_id": room_id, "at": now}))
    await asyncio.sleep(0)  # the first write starts with one record
    for index in range(100):
        fields = {
            "room_id": room_id,
            "peer_id": f"p{index}",
            "at": now,
            "user_id": None,
            "client_address": "10.1.2.3",
            "user_agent": "",
        }
        event_recorder.add(recorder.Record(RoomEvent.Kind.PEER_JOINED, fields))
    await event_recorder.flush()
    assert batches == [1, 100]
    assert await PeerSession.objects.filter(room_id=room_id, client_address="10.1.2.3").acount() == 100


async def test_concurrent_joins_are_all_recorded(connect: Connect, room_id: str) -> None:
    peers = [await connect() for _ in range(40)]
    await asyncio.gather(*(peer.join(f"{room_id}-{index}") for index, peer in enumerate(peers)))
    await settle()
    assert await PeerSession.objects.filter(room__id__startswith=room_id).acount() == 40
    assert await RoomEvent.objects.filter(room__id__startswith=room_id, kind="room_created").acount() == 40


async def test_failed_write_is_retried(room_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from django.db import OperationalError
    from django.utils import timezone

    attempts: list[int] = []
    original = recorder.write_batch

    def flaky(records: Any) -> None:
        attempts.append(len(records))
        if len(attempts) == 1:
            raise OperationalError("database is locked")
        original(records)

    monkeypatch.setattr(recorder, "write_batch", flaky)
    record = recorder.Record(RoomEvent.Kind.ROOM_CREATED, {"room_id": room_id, "at": timezone.now()})
    recorder.get_recorder().add(record)
    await recorder.get_recorder().flush()
    assert attempts == [1, 1]
    assert await RoomEvent.objects.filter(room_id=room_id, kind="room_created").aexists()
