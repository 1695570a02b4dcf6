"""`joined.iceServers`: the configured ICE servers, and TURN REST API credentials of each peer's own."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

import pytest

from signaling.checks import check_settings
from signaling.ice import turn_credentials
from tests.conftest import Connect

pytestmark = pytest.mark.django_db(transaction=True)

STUN = {"urls": "stun:stun.example.test:3478"}
TURN_URLS = ["turn:turn.example.test:3478?transport=udp", "turns:turn.example.test:5349"]


async def test_no_ice_configuration_sends_none(connect: Connect, room_id: str) -> None:
    peer = await connect()
    assert "iceServers" not in await peer.join(room_id)


async def test_empty_ice_servers_are_sent_as_none_to_use(connect: Connect, room_id: str, settings: Any) -> None:
    # [] is a configuration of its own (host candidates only), unlike None: the client must not fall back to STUN.
    settings.SIGNALING = {**settings.SIGNALING, "ICE_SERVERS": []}
    peer = await connect()
    assert (await peer.join(room_id))["iceServers"] == []


async def test_turn_without_ice_servers(connect: Connect, room_id: str, settings: Any) -> None:
    settings.SIGNALING = {**settings.SIGNALING, "TURN_SECRET": "s3cret", "TURN_URLS": TURN_URLS}
    peer = await connect()
    (turn,) = (await peer.join(room_id))["iceServers"]
    assert turn["urls"] == TURN_URLS


async def test_ice_servers_and_turn_credentials_in_joined(connect: Connect, room_id: str, settings: Any) -> None:
    settings.SIGNALING = {
        **settings.SIGNALING,
        "ICE_SERVERS": [STUN],
        "TURN_SECRET": "s3cret",
        "TURN_URLS": TURN_URLS,
        "TURN_CREDENTIAL_TTL": 600,
    }
    alice, bob = await connect(), await connect()
    joined_a, joined_b = await alice.join(room_id), await bob.join(room_id)
    stun, turn = joined_a["iceServers"]
    assert stun == STUN
    assert turn["urls"] == TURN_URLS
    expiry, peer_id = turn["username"].split(":")
    assert peer_id == joined_a["peerId"]
    assert abs(int(expiry) - (time.time() + 600)) < 5
    # What coturn computes with use-auth-secret to check the password.
    expected = base64.b64encode(hmac.new(b"s3cret", turn["username"].encode(), hashlib.sha1).digest()).decode()
    assert turn["credential"] == expected
    # Every peer has credentials of its own.
    assert joined_b["iceServers"][1]["username"].endswith(joined_b["peerId"])
    assert joined_b["iceServers"][1]["credential"] != turn["credential"]


def short_lived_turn(settings: Any) -> None:
    """TURN credentials that live 2 s: a peer in a room gets fresh ones every second."""
    settings.SIGNALING = {
        **settings.SIGNALING,
        "TURN_SECRET": "s3cret",
        "TURN_URLS": TURN_URLS,
        "TURN_CREDENTIAL_TTL": 2,
    }


async def test_a_peer_in_a_room_gets_fresh_credentials_before_its_own_expire(
    connect: Connect, room_id: str, settings: Any
) -> None:
    short_lived_turn(settings)
    peer = await connect()
    joined = await peer.join(room_id)
    (first,) = joined["iceServers"]
    started = time.monotonic()
    refreshed = await peer.receive(timeout=3)
    # Half the lifetime later: long before the first ones stop working.
    assert 0.8 < time.monotonic() - started < 2
    assert refreshed["t"] == "ice-servers"
    (turn,) = refreshed["iceServers"]
    assert turn["urls"] == TURN_URLS
    expiry, peer_id = turn["username"].split(":")
    assert peer_id == joined["peerId"]
    assert int(expiry) >= int(first["username"].split(":")[0])
    expected = base64.b64encode(hmac.new(b"s3cret", turn["username"].encode(), hashlib.sha1).digest()).decode()
    assert turn["credential"] == expected
    assert (await peer.receive(timeout=3))["t"] == "ice-servers"  # and again, for as long as it stays
    # Out of the room, nothing more.
    await peer.send(t="leave")
    await peer.assert_silent(1.5)


async def test_a_resumed_peer_gets_fresh_credentials_and_their_refreshes(
    connect: Connect, room_id: str, settings: Any
) -> None:
    short_lived_turn(settings)
    peer = await connect()
    joined = await peer.join(room_id)
    first_expiry = int(joined["iceServers"][0]["username"].split(":")[0])
    assert (await peer.receive(timeout=3))["t"] == "ice-servers"  # a second at least has passed
    await peer.drop()
    again = await connect()
    await again.send(t="join", roomId=room_id, resume=joined["resume"])
    resumed = await again.receive()
    assert resumed["t"] == "joined", resumed
    assert resumed["peerId"] == joined["peerId"]
    # Credentials of its own, minted now, not the ones it had.
    expiry, peer_id = resumed["iceServers"][0]["username"].split(":")
    assert peer_id == joined["peerId"]
    assert int(expiry) > first_expiry
    # And the new socket gets the refreshes from now on.
    assert (await again.receive(timeout=3))["t"] == "ice-servers"


async def test_no_turn_no_refreshes(connect: Connect, room_id: str, settings: Any) -> None:
    settings.SIGNALING = {**settings.SIGNALING, "ICE_SERVERS": [STUN], "TURN_CREDENTIAL_TTL": 2}
    peer = await connect()
    await peer.join(room_id)
    await peer.assert_silent(1.5)


def test_turn_credentials_known_answer() -> None:
    # Fixed inputs, so the scheme itself is pinned: expiry 1000 + 3600, HMAC-SHA1 of "4600:peer" under "key".
    username, credential = turn_credentials("key", "peer", 3600, now=1000)
    assert username == "4600:peer"
    # The same from openssl: printf 4600:peer | openssl dgst -sha1 -hmac key -binary | base64
    assert credential == "9E+KaVGKJd0CqYzId6OMUlgzmHM="


@pytest.mark.parametrize(
    "values",
    [
        {"ICE_SERVERS": "stun:stun.example.test"},
        {"ICE_SERVERS": [{"url": "stun:stun.example.test"}]},
        {"ICE_SERVERS": [{"urls": "http://stun.example.test"}]},
        {"TURN_SECRET": "s"},
        {"TURN_URLS": TURN_URLS},
        {"TURN_SECRET": "s", "TURN_URLS": ["stun:stun.example.test"]},
    ],
)
def test_bad_ice_settings_are_reported(settings: Any, values: dict[str, Any]) -> None:
    settings.SIGNALING = {**settings.SIGNALING, **values}
    assert "signaling.E008" in [message.id for message in check_settings()]


def test_good_ice_settings_pass(settings: Any) -> None:
    settings.SIGNALING = {
        **settings.SIGNALING,
        "ICE_SERVERS": [STUN, {"urls": ["stun:a.test", "stun:b.test"]}],
        "TURN_SECRET": "s",
        "TURN_URLS": TURN_URLS,
    }
    assert check_settings() == []
