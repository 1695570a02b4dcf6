"""Operators' views: liveness, readiness (registry, database, draining) and Prometheus metrics that move as a call
joins, relays, resumes and leaves."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import AsyncClient, Client
from prometheus_client.parser import text_string_to_metric_families

from rtcsite.servers import RedisProcess, free_port
from signaling.drain import start_draining, stop_draining
from tests.conftest import Connect, settle

pytestmark = pytest.mark.django_db(transaction=True)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text page, parsed by prometheus_client's own parser."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(client: Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    return samples(response.content.decode())


def value(page: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return page.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def draining() -> Iterator[None]:
    start_draining()
    yield
    stop_draining()


async def test_healthz_and_readyz_answer() -> None:
    client = AsyncClient()
    health = await client.get("/healthz")
    assert health.status_code == 200
    assert health.content == b"ok\n"
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"ready": True, "problems": []}


@pytest.mark.usefixtures("draining")
async def test_readyz_is_503_while_draining_and_healthz_stays_200() -> None:
    client = AsyncClient()
    ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["problems"] == ["draining"]
    assert (await client.get("/healthz")).status_code == 200


async def test_readyz_is_503_while_redis_is_down(settings: Any) -> None:
    with RedisProcess() as redis_server:
        settings.SIGNALING = {**settings.SIGNALING, "REDIS_URL": redis_server.url}
        client = AsyncClient()
        assert (await client.get("/readyz")).status_code == 200
        redis_server.stop()
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["problems"] == ["registry unreachable"]
        redis_server.start()
        assert (await client.get("/readyz")).status_code == 200


async def test_readyz_is_503_when_redis_was_never_there(settings: Any) -> None:
    settings.SIGNALING = {**settings.SIGNALING, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    ready = await AsyncClient().get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["problems"] == ["registry unreachable"]


def test_metrics_are_for_local_scrapers_and_staff(settings: Any) -> None:
    client = Client()
    assert client.get("/metrics", REMOTE_ADDR="198.51.100.20").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    settings.SIGNALING = {**settings.SIGNALING, "METRICS_ALLOWED_ADDRESSES": ["198.51.100.0/24"]}
    assert client.get("/metrics", REMOTE_ADDR="198.51.100.20").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403
    client.force_login(User.objects.create_user("operator", is_staff=True))
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200


def test_bad_metrics_addresses_are_a_system_check_error(settings: Any) -> None:
    settings.SIGNALING = {**settings.SIGNALING, "METRICS_ALLOWED_ADDRESSES": ["not-an-address"]}
    with pytest.raises(Exception, match=r"signaling\.E009"):
        call_command("check")


async def test_metrics_move_with_a_call(connect: Connect, room_id: str) -> None:
    client = AsyncClient()

    async def scrape_now() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        response = await client.get("/metrics", REMOTE_ADDR="127.0.0.1")
        return samples(response.content.decode())

    before = await scrape_now()
    alice, bob = await connect(), await connect()
    await alice.join(room_id)
    joined = await bob.join(room_id)
    await alice.receive()
    during = await scrape_now()
    assert (
        value(during, "signaling_joins_total", outcome="joined")
        - value(before, "signaling_joins_total", outcome="joined")
        == 2
    )
    assert value(during, "signaling_peers") - value(before, "signaling_peers") == 2
    assert value(during, "signaling_rooms") - value(before, "signaling_rooms") == 1
    assert (
        value(during, "signaling_join_latency_seconds_count") - value(before, "signaling_join_latency_seconds_count")
        == 2
    )

    for n in range(5):
        await alice.send(t="ice", to=bob.peer_id, candidate={"candidate": f"c{n}"})
        await bob.receive()
    carol = await connect()
    await carol.send(t="join", roomId=room_id)
    await carol.expect_error("room-full")
    await bob.drop()
    again = await connect()
    await again.send(t="join", roomId=room_id, resume=joined["resume"])
    assert (await again.receive())["peerId"] == bob.peer_id
    await again.send(t="join", roomId=room_id)
    await again.expect_error("already-joined")
    after = await scrape_now()
    assert (
        value(after, "signaling_relayed_messages_total", path="local")
        - value(before, "signaling_relayed_messages_total", path="local")
        >= 5
    )
    assert (
        value(after, "signaling_joins_total", outcome="room-full")
        - value(before, "signaling_joins_total", outcome="room-full")
        == 1
    )
    assert (
        value(after, "signaling_resumes_total", outcome="same_worker")
        - value(before, "signaling_resumes_total", outcome="same_worker")
        == 1
    )

    await alice.close()
    await again.close()
    await settle()
    gone = await scrape_now()
    assert value(gone, "signaling_peers") == value(before, "signaling_peers")
    assert value(gone, "signaling_rooms") == value(before, "signaling_rooms")


async def test_drain_parks_every_peer_and_closes_with_1012(
    connect: Connect, room_id: str, settings: Any, redis_server: RedisProcess
) -> None:
    from signaling import drain
    from signaling.registry import get_registry

    settings.SIGNALING = {**settings.SIGNALING, "REDIS_URL": redis_server.url, "REDIS_PREFIX": f"d{room_id[-8:]}"}
    alice, bob = await connect(), await connect()
    joined = await alice.join(room_id)
    await bob.join(room_id)
    await alice.receive()
    try:
        closed = await drain.drain(2.0)
        assert closed == 2
        assert await alice.receive_close() == 1012
        assert await bob.receive_close() == 1012
        # A new socket on the draining worker is told to go elsewhere.
        late = await connect()
        assert await late.receive_close() == 1012
    finally:
        drain.stop_draining()
    assert sorted(get_registry().members(room_id)) == sorted([alice.peer_id, bob.peer_id])
    # Both parked: a resume (on any worker) takes the place back.
    again = await connect()
    await again.send(t="join", roomId=room_id, resume=joined["resume"])
    assert (await again.receive())["peerId"] == alice.peer_id
