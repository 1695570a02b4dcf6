"""Peers' metadata and media state (`join.metadata`, `update`, `peer-updated`, `joined.metadata`/`media`), names
the server vouches for, and bans: on both registries."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from rooms.models import PeerSession, Room, RoomBan
from signaling.consumer import SignalingConsumer
from signaling.registry import get_registry
from signaling.tokens import issue_room_token
from tests.conftest import Connect, Peer, settle

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("registry_kind")]


def as_user(user: Any) -> Any:
    """The endpoint behind channels' AuthMiddleware for a socket of a logged-in ``user``."""
    inner = SignalingConsumer.as_asgi()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await inner({**scope, "user": user}, receive, send)

    return app


async def test_names_and_media_reach_the_room_and_late_joiners(connect: Connect, room_id: str) -> None:
    ada, bob = await connect(max_peers=3), await connect(max_peers=3)
    joined = await ada.join(room_id, metadata={"name": "Ada", "color": "teal"})
    assert joined["metadata"] == {ada.peer_id: {"name": "Ada", "color": "teal"}}
    assert joined["media"] == {}
    bob_joined = await bob.join(room_id, metadata={"name": "Bob"}, media={"audio": True, "video": False})
    assert bob_joined["metadata"] == {ada.peer_id: {"name": "Ada", "color": "teal"}, bob.peer_id: {"name": "Bob"}}
    assert await ada.receive() == {
        "t": "peer-joined",
        "peerId": bob.peer_id,
        "metadata": {"name": "Bob"},
        "media": {"audio": True, "video": False},
    }

    await ada.send(t="update", media={"audio": False, "video": True, "screen": False})
    assert await bob.receive() == {
        "t": "peer-updated",
        "peerId": ada.peer_id,
        "media": {"audio": False, "video": True, "screen": False},
    }
    await ada.assert_silent()
    # Only what changed is sent; a part not given is kept.
    await ada.send(t="update", metadata={"name": "Ada L."})
    assert await bob.receive() == {"t": "peer-updated", "peerId": ada.peer_id, "metadata": {"name": "Ada L."}}
    await ada.send(t="update", media={"audio": True})
    assert (await bob.receive())["media"] == {"audio": True, "video": True, "screen": False}
    # A repeat of the current state tells nobody anything.
    await ada.send(t="update", media={"audio": True})
    await bob.assert_silent()

    late = await connect(max_peers=3)
    late_joined = await late.join(room_id)
    assert late_joined["metadata"] == {ada.peer_id: {"name": "Ada L."}, bob.peer_id: {"name": "Bob"}}
    assert late_joined["media"] == {
        ada.peer_id: {"audio": True, "video": True, "screen": False},
        bob.peer_id: {"audio": True, "video": False},
    }


async def test_a_departed_peers_state_is_forgotten(connect: Connect, room_id: str, registry_kind: str) -> None:
    ada, bob = await connect(), await connect()
    await ada.join(room_id, metadata={"name": "Ada"}, media={"audio": False})
    await ada.send(t="leave")
    await bob.join(room_id)
    await bob.send(t="leave")
    again = await connect()
    joined = await again.join(room_id)
    assert joined["metadata"] == {}
    assert joined["media"] == {}
    await again.send(t="leave")
    await settle()
    if registry_kind == "redis":
        registry: Any = get_registry()
        keys = registry._client().keys(f"{registry.prefix}:state:*")
        assert keys == []


MEDIA_REFUSED = "media must be an object of audio, video, screen and recording, each true or false"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"metadata": "Ada"}, "metadata must be a JSON object"),
        ({"metadata": {"name": "x" * 1100}}, "metadata is too large (max 1024 bytes)"),
        ({"media": {"audio": "yes"}}, MEDIA_REFUSED),
        ({"media": [True]}, MEDIA_REFUSED),
        ({}, "update needs metadata or media"),
    ],
)
async def test_bad_updates_are_refused_and_change_nothing(
    connect: Connect, room_id: str, fields: dict[str, Any], message: str
) -> None:
    ada, bob = await connect(), await connect()
    await ada.join(room_id, metadata={"name": "Ada"})
    await bob.join(room_id)
    await ada.receive()  # peer-joined
    await ada.send(t="update", **fields)
    await ada.expect_error("invalid-message", message)
    await bob.assert_silent()
    await ada.assert_still_serving()
    late = await connect(max_peers=3)
    assert (await late.join(room_id))["metadata"] == {ada.peer_id: {"name": "Ada"}}


async def test_a_join_with_bad_metadata_is_refused(connect: Connect, room_id: str) -> None:
    ada = await connect()
    await ada.send(t="join", roomId=room_id, metadata={"name": "x" * 2000})
    await ada.expect_error("invalid-message", "metadata is too large (max 1024 bytes)")
    assert get_registry().members(room_id) == []
    await ada.join(room_id, metadata={"name": "Ada"})


async def test_update_before_join_is_not_in_room(connect: Connect) -> None:
    ada = await connect()
    await ada.send(t="update", media={"audio": False})
    await ada.expect_error("not-in-room", "Not in a room")


async def test_a_logged_in_users_name_is_the_servers_and_recorded(connect: Connect, room_id: str) -> None:
    user = await User.objects.acreate_user("grace", first_name="Grace", last_name="Hopper")
    grace = await connect(as_user(user))
    other = await connect()
    joined = await grace.join(room_id, metadata={"name": "Admin", "color": "red"})
    # The name cannot be spoofed; the rest of the metadata is the client's.
    assert joined["metadata"][grace.peer_id] == {"name": "Grace Hopper", "color": "red"}
    await other.join(room_id)
    await grace.send(t="update", metadata={"name": "Someone else", "color": "blue"})
    assert await other.receive() == {
        "t": "peer-updated",
        "peerId": grace.peer_id,
        "metadata": {"name": "Grace Hopper", "color": "blue"},
    }
    await settle()
    session = await PeerSession.objects.aget(peer_id=grace.peer_id)
    assert session.display_name == "Grace Hopper"


async def test_an_anonymous_peers_name_is_recorded_and_follows_renames(connect: Connect, room_id: str) -> None:
    ada = await connect()
    await ada.join(room_id, metadata={"name": "Ada"})
    await settle()
    assert (await PeerSession.objects.aget(peer_id=ada.peer_id)).display_name == "Ada"
    await ada.send(t="update", metadata={"name": "Ada Lovelace"})
    await ada.assert_still_serving()
    await settle()
    assert (await PeerSession.objects.aget(peer_id=ada.peer_id)).display_name == "Ada Lovelace"


async def join_reply(peer: Peer, room_id: str, **fields: Any) -> dict[str, Any]:
    await peer.send(t="join", roomId=room_id, **fields)
    return await peer.receive()


async def test_a_banned_user_is_refused_until_the_ban_ends(connect: Connect, room_id: str) -> None:
    room = await Room.objects.acreate(id=room_id)
    user = await User.objects.acreate_user("mallory")
    until = timezone.now() + timedelta(seconds=1.5)
    await RoomBan.objects.acreate(room=room, user=user, until=until)
    mallory = await connect(as_user(user))
    refused = await join_reply(mallory, room_id)
    assert refused["t"] == "error"
    assert refused["code"] == "forbidden"
    assert refused["message"].startswith("You are banned from this room until ")
    # The same user with a room token is the same user.
    token, _ = issue_room_token(room_id, user.pk)
    anonymous_socket = await connect()
    assert (await join_reply(anonymous_socket, room_id, token=token))["code"] == "forbidden"
    # Others are not concerned.
    bystander = await connect()
    await bystander.join(room_id)
    # Once the ban is over, the join is accepted (no cache stands in the way).
    deadline = asyncio.get_running_loop().time() + 5
    while timezone.now() < until:
        await asyncio.sleep(0.05)
    reply = await join_reply(mallory, room_id)
    assert reply["t"] == "joined", reply
    assert asyncio.get_running_loop().time() < deadline


async def test_kick_with_ban_over_rest(async_client: Any, connect: Connect, room_id: str) -> None:
    staff = await User.objects.acreate_user("mod", password="pw", is_staff=True, is_superuser=True)
    user = await User.objects.acreate_user("eve")
    await Room.objects.acreate(id=room_id)
    eve = await connect(as_user(user))
    anon = await connect()
    await eve.join(room_id, metadata={"name": "Eve"})
    await anon.join(room_id)
    await eve.receive()  # peer-joined
    await settle()
    await async_client.aforce_login(staff)
    # An anonymous peer can be kicked, not banned: said, and nothing done.
    response = await async_client.post(
        f"/api/rooms/{room_id}/kick/", {"peer_id": anon.peer_id, "ban_minutes": 10}, content_type="application/json"
    )
    assert response.status_code == 400, response.content
    assert "anonymous" in json.dumps(response.json())
    assert anon.peer_id in get_registry().members(room_id)
    detail = (await async_client.get(f"/api/rooms/{room_id}/")).json()
    assert detail["peer_names"] == {eve.peer_id: "eve"}
    assert detail["effective_max_peers"] == 2
    response = await async_client.post(
        f"/api/rooms/{room_id}/kick/", {"peer_id": eve.peer_id, "ban_minutes": 10}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["kicked"] is True
    assert response.json()["banned_until"]
    assert await eve.receive() == {"t": "closed", "reason": "kicked"}
    assert await eve.receive_close() == 4010
    again = await connect(as_user(user))
    assert (await join_reply(again, room_id))["code"] == "forbidden"


async def test_a_token_users_name_is_for_the_join_that_carried_it(connect: Connect, room_id: str) -> None:
    user = await User.objects.acreate_user("tess", first_name="Tess")
    token, _ = issue_room_token(room_id, user.pk)
    socket = await connect()
    joined = await socket.join(room_id, token=token, metadata={"name": "x"})
    assert joined["metadata"][socket.peer_id] == {"name": "Tess"}
    await socket.send(t="leave")
    # The same socket joins again without the token: an anonymous peer, named as it says.
    again = await socket.join(room_id, metadata={"name": "Anonymous now"})
    assert again["metadata"][socket.peer_id] == {"name": "Anonymous now"}
