"""`path`: a client's word on how its connection to one peer goes (direct, or through a TURN relay and how it
reaches it), logged as a `peer_path` event when it changes, kept on the session (relay wins), and counted."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import REGISTRY

from rooms.models import PeerSession, RoomEvent
from signaling.client_frames import INVALID_PATH
from tests.conftest import Connect, settle

pytestmark = pytest.mark.django_db(transaction=True)


def counted(path: str, protocol: str) -> float:
    value = REGISTRY.get_sample_value("signaling_media_paths_total", {"path": path, "protocol": protocol})
    return value or 0.0


async def test_a_reported_path_is_logged_once_per_change_and_relay_wins(connect: Connect, room_id: str) -> None:
    alice, bob = await connect(), await connect()
    await alice.join(room_id)
    await bob.join(room_id)
    await alice.receive()  # peer-joined
    relayed_before, direct_before = counted("relay", "udp"), counted("direct", "none")
    await alice.send(t="path", peerId=bob.peer_id, relay=True, protocol="udp")
    await alice.send(t="path", peerId=bob.peer_id, relay=True, protocol="udp")  # the same again: nothing new
    await bob.send(t="path", peerId=alice.peer_id, relay=False)
    await alice.send(t="path", peerId=bob.peer_id, relay=False)  # moved to a direct path
    await alice.send(t="ping")
    assert (await alice.receive())["t"] == "pong"  # no error, and the reports were handled before the ping
    await bob.send(t="ping")
    assert (await bob.receive())["t"] == "pong"
    await settle()

    async def reported_by(peer_id: str | None) -> list[dict[str, Any]]:
        return [e.detail async for e in RoomEvent.objects.filter(kind="peer_path", peer_id=peer_id).order_by("id")]

    assert await reported_by(alice.peer_id) == [
        {"remote_id": bob.peer_id, "relay": True, "protocol": "udp"},
        {"remote_id": bob.peer_id, "relay": False, "protocol": ""},
    ]
    assert await reported_by(bob.peer_id) == [{"remote_id": alice.peer_id, "relay": False, "protocol": ""}]
    # Alice's media went through a relay for a while: her session says so; Bob's never did.
    assert (await PeerSession.objects.aget(peer_id=alice.peer_id)).media_path == "relay"
    assert (await PeerSession.objects.aget(peer_id=bob.peer_id)).media_path == "direct"
    assert counted("relay", "udp") == relayed_before + 1
    assert counted("direct", "none") == direct_before + 2
    # Nobody else hears of it.
    await bob.assert_silent(0.2)


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"peerId": "p", "relay": "yes"},
        {"peerId": 7, "relay": True},
        {"peerId": "", "relay": True},
        {"peerId": "p" * 65, "relay": True},
        {"peerId": "p", "relay": False, "protocol": "udp"},
        {"peerId": "p", "relay": True, "protocol": "sctp"},
        {"peerId": "p", "relay": True, "protocol": None},
    ],
)
async def test_a_bad_path_report_is_refused_and_costs_nothing(
    connect: Connect, room_id: str, fields: dict[str, Any]
) -> None:
    alice, bob = await connect(), await connect()
    await alice.join(room_id)
    await bob.join(room_id)
    await alice.receive()  # peer-joined
    await alice.send(t="path", **fields)
    await alice.expect_error("invalid-message", INVALID_PATH)
    # The socket and the call go on; nothing was logged; nobody else heard a thing.
    await alice.send(t="ice", to=bob.peer_id, candidate={"candidate": "still here"})
    assert (await bob.receive())["candidate"] == {"candidate": "still here"}
    await settle()
    assert not await RoomEvent.objects.filter(kind="peer_path").aexists()
    assert (await PeerSession.objects.aget(peer_id=alice.peer_id)).media_path == ""


async def test_a_path_report_outside_a_room_is_refused(connect: Connect) -> None:
    peer = await connect()
    await peer.send(t="path", peerId="someone", relay=True)
    await peer.expect_error("not-in-room")


async def test_reports_of_more_peers_than_the_room_seats_are_not_logged(
    connect: Connect, room_id: str, settings: Any
) -> None:
    settings.SIGNALING = {**settings.SIGNALING, "MAX_PEERS": 2, "EXTRA_SEATS": 1}
    peer = await connect()
    await peer.join(room_id)
    for index in range(10):
        await peer.send(t="path", peerId=f"made-up-{index}", relay=True)
    await peer.send(t="ping")
    assert (await peer.receive())["t"] == "pong"
    await settle()
    # Two participants and one extra seat: at most three other peers to have a connection with.
    assert await RoomEvent.objects.filter(kind="peer_path").acount() == 3
