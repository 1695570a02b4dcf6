"""The TURN credentials the server mints (``signaling.ice``) against a real coturn (``use-auth-secret``): a fresh one
allocates a relay address over UDP and TCP, a forged or an expired one is refused, and coturn's log says so."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import aioice.stun
import aioice.turn
import pytest

from rtcsite.servers import TurnServer
from signaling.ice import turn_credentials

SECRET = "turn-test-secret"


@pytest.fixture(scope="module")
def turn() -> Iterator[TurnServer]:
    with TurnServer(SECRET) as server:
        yield server


async def allocate(turn: TurnServer, username: str, password: str, transport: str = "udp") -> tuple[str, int]:
    """A relay address allocated with these credentials (raises when coturn refuses them)."""
    endpoint, _ = await asyncio.wait_for(aioice.turn.create_turn_endpoint(
        asyncio.DatagramProtocol, ("127.0.0.1", turn.port), username, password, transport=transport,
    ), 10)
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
