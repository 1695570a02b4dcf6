"""The TURN credentials the server mints (``signaling.ice``) against a real coturn (``use-auth-secret``): a fresh one
allocates a relay address over UDP and TCP, a forged or an expired one is refused, and coturn's log says so; the
Python peer moves a relayed path onto fresh ones, and leaves a direct path alone."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Literal

import aioice.stun
import aioice.turn
import pytest

from rtcsite.servers import ROOT, DaphneProcess, TurnServer
from signaling.ice import turn_credentials
from signaling.peer import DataChannelMessage, DataChannelOpen, WebRTCCall
from signaling.peer.link import relays_locally
from tests.wsclient import eventually

SECRET = "turn-test-secret"


@pytest.fixture(scope="module")
def turn() -> Iterator[TurnServer]:
    with TurnServer(SECRET) as server:
        yield server


async def allocate(turn: TurnServer, username: str, password: str, transport: str = "udp") -> tuple[str, int]:
    """A relay address allocated with these credentials (raises when coturn refuses them)."""
    endpoint, _ = await asyncio.wait_for(
        aioice.turn.create_turn_endpoint(
            asyncio.DatagramProtocol,
            ("127.0.0.1", turn.port),
            username,
            password,
            transport=transport,
        ),
        10,
    )
    try:
        address: tuple[str, int] = endpoint.get_extra_info("sockname")
        return address
    finally:
        endpoint.close()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_fresh_credentials_allocate_a_relay(turn: TurnServer, transport: str) -> None:
    username, password = turn_credentials(SECRET, "peer-fresh", ttl=60)
    host, port = await allocate(turn, username, password, transport)
    assert host == "127.0.0.1"
    assert port > 0
    turn.wait_for_log(f"user <{username}>", "ALLOCATE processed, success")


@pytest.mark.parametrize("case", ["forged", "expired"])
async def test_a_forged_or_expired_credential_is_refused(turn: TurnServer, case: str) -> None:
    if case == "forged":
        username, password = turn_credentials("not-the-secret", "peer-forged", ttl=60)
    else:
        username, password = turn_credentials(SECRET, "peer-expired", ttl=-60)  # the server's secret, too old
    with pytest.raises(aioice.stun.TransactionFailed, match="401"):
        await allocate(turn, username, password)
    turn.wait_for_log(f"user <{username}>", "error 401: Unauthorized")


@pytest.fixture(scope="module")
def turn_site(turn: TurnServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaphneProcess]:
    """The reference project minting credentials for ``turn`` that live 8 s: fresh ones every 4 s."""
    database = tmp_path_factory.mktemp("turn-site") / "db.sqlite3"
    env = {
        "RTCSITE_DATABASE_URL": f"sqlite:///{database}",
        "SIGNALING_SETTINGS": json.dumps(
            {"TURN_SECRET": SECRET, "TURN_URLS": turn.urls("udp"), "TURN_CREDENTIAL_TTL": 8}
        ),
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        check=True,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "rtcsite.settings", **env},
    )
    with DaphneProcess(env) as daphne:
        yield daphne


async def python_pair(site: DaphneProcess, policy: Literal["all", "relay"]) -> tuple[WebRTCCall, WebRTCCall]:
    """Two Python peers in a new room, their `chat` channel open both ways."""
    room = f"turn-{time.time_ns()}"
    calls = [
        WebRTCCall(site.ws_url + "/api/call/signal", room, data_channels=["chat"], ice_transport_policy=policy)
        for _ in range(2)
    ]
    opened: asyncio.Queue[DataChannelOpen] = asyncio.Queue()
    for call in calls:
        call.on(DataChannelOpen, opened.put_nowait)
        await call.connect()
    for _ in range(2):
        await asyncio.wait_for(opened.get(), 20)
    return calls[0], calls[1]


async def next_credentials(call: WebRTCCall, peer_id: str) -> None:
    """Wait until the link to ``peer_id`` has taken a round of fresh credentials."""
    link = call._links[peer_id]
    before = link.ice_servers
    await eventually(lambda: link.ice_servers != before, timeout=15)


@pytest.mark.parametrize("policy", ["all", "relay"])
async def test_fresh_credentials_move_only_a_relayed_path_of_the_python_peer(
    turn_site: DaphneProcess, policy: Literal["all", "relay"]
) -> None:
    alice, bob = await python_pair(turn_site, policy)
    try:
        link = alice._links[str(bob.peer_id)]
        first = link.pc
        assert relays_locally(first) == (policy == "relay")
        await next_credentials(alice, str(bob.peer_id))
        if policy == "all":
            # A direct path is left as it is: the same connection, never interrupted.
            assert link.pc is first
        else:
            # A relayed one moved to a fresh connection, relaying on credentials minted since.
            assert link.pc is not first

        def open_again() -> bool:
            channel = link.channels.get("chat")
            return link.state == "connected" and channel is not None and channel.readyState == "open"

        await eventually(open_again, timeout=20)
        assert relays_locally(link.pc) == (policy == "relay")
        received: asyncio.Queue[DataChannelMessage] = asyncio.Queue()
        bob.on(DataChannelMessage, received.put_nowait)
        assert alice.send_string_to(str(bob.peer_id), "chat", "still here")
        assert (await asyncio.wait_for(received.get(), 10)).data == "still here"
    finally:
        for call in (alice, bob):
            await call.hangup()
