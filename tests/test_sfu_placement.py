"""Where SFU rooms go (``signaling.registry.placement``), with the in-process registry and with Redis: the least
loaded node that is up, not draining and below its capacity; a room stays on its node while that node is up, and
leaves it when it is marked down (or a drain moves it), for every worker alike; the admin's SFU nodes page and
``/metrics`` show the nodes as the placement has them, and a moderator drains and restores one there."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from rooms.models import Room
from signaling import live
from signaling.registry import get_registry
from signaling.registry.placement import SfuPlacement, least_loaded
from tests.conftest import FakePeer, seated

NODES: dict[str, int | None] = {"a": None, "b": None}


def placement() -> SfuPlacement:
    return get_registry().sfu_placement()


def test_least_loaded_weighs_peers_by_capacity_and_skips_full_nodes() -> None:
    capacities = {"a": 10, "b": 100, "c": None}
    assert least_loaded(["a", "b"], capacities, {"a": 2, "b": 10}) == "b"  # 20 % against 10 %
    assert least_loaded(["a", "b"], capacities, {"a": 10, "b": 100}) is None  # both full
    assert least_loaded(["a", "c"], capacities, {"a": 10, "c": 3}) == "c"
    assert least_loaded(["a", "b"], capacities, {}) == "a"  # ties: the first listed
    assert least_loaded(["a", "b"], capacities, {}, avoid="a") == "b"


@pytest.mark.usefixtures("registry_kind")
async def test_rooms_go_to_the_least_loaded_node_and_stay_there() -> None:
    registry = get_registry()
    # Room r1 has three peers: the next rooms go to the other node until it carries as many.
    for peer in ("p1", "p2", "p3"):
        await registry.join("r1", FakePeer(peer), 8)
    for room in ("r2", "r3", "r4"):
        await registry.join(room, FakePeer(f"{room}-p"), 8)
    try:
        assert await placement().place("r1", NODES) == "a"
        assert [await placement().place(room, NODES) for room in ("r2", "r3", "r4")] == ["b", "b", "b"]
        # Asked again (another worker, another member), each room is where it was.
        assert await placement().place("r2", NODES) == "b"
        assert await placement().node_of(["r1", "r2", "nowhere"]) == {"r1": "a", "r2": "b"}
    finally:
        for room, peers in (("r1", ["p1", "p2", "p3"]), ("r2", ["r2-p"]), ("r3", ["r3-p"]), ("r4", ["r4-p"])):
            for peer in peers:
                await registry.leave(room, peer, "leave")


@pytest.mark.usefixtures("registry_kind")
async def test_a_node_marked_down_loses_its_rooms_and_gets_no_new_one_until_its_hold_is_over() -> None:
    assert await placement().place("r1", NODES) == "a"
    await placement().mark_down("a", hold=0.5)
    assert await placement().place("r2", NODES) == "b"
    # The first ask after the mark moves r1; every later one finds it there.
    assert await placement().place("r1", NODES) == "b"
    assert await placement().node_of(["r1"]) == {"r1": "b"}
    await placement().mark_down("b", hold=0.5)
    assert await placement().place("r3", NODES) is None
    assert await placement().place("r3", NODES, despite_down=True) in ("a", "b")
    await asyncio.sleep(0.6)
    assert await placement().place("r4", NODES) == "a"
    await placement().mark_down("a", hold=30)
    await placement().mark_up("a")
    assert await placement().place("r5", NODES, avoid="b") == "a"


@pytest.mark.usefixtures("registry_kind")
async def test_a_draining_node_keeps_its_rooms_until_moved_gets_no_new_one_and_takes_one_step_at_a_time() -> None:
    assert await placement().place("r1", NODES) == "a"
    await placement().set_draining("a", True)
    assert await placement().draining() == {"a"}
    assert await placement().place("r1", NODES) == "a"  # still there: a drain moves rooms one by one
    assert await placement().place("r2", NODES) == "b"
    assert await placement().claim_drain_step("a", "r1", step=30)
    assert not await placement().claim_drain_step("a", "r2", step=30)  # another worker's step, too soon
    assert await placement().place("r1", NODES, avoid="a") == "b"
    await placement().set_draining("a", False)
    assert await placement().draining() == set()
    # Only the node it is on forgets a room (a late forget for a moved room leaves it where it is now).
    await placement().forget("r1", "a")
    assert await placement().node_of(["r1"]) == {"r1": "b"}
    await placement().forget("r1")
    assert await placement().node_of(["r1"]) == {}


@pytest.mark.usefixtures("registry_kind")
async def test_a_node_at_its_capacity_takes_no_new_room() -> None:
    registry = get_registry()
    capacities: dict[str, int | None] = {"a": 2, "b": 2}
    peers = [("r1", "x1"), ("r1", "x2"), ("r2", "y1"), ("r2", "y2")]
    for room, peer in peers:
        await registry.join(room, FakePeer(peer), 8)
    try:
        assert {await placement().place("r1", capacities), await placement().place("r2", capacities)} == {"a", "b"}
        assert await placement().place("r3", capacities) is None
    finally:
        for room, peer in peers:
            await registry.leave(room, peer, "leave")


@pytest.fixture
def two_nodes(settings: Any) -> None:
    settings.SIGNALING = {
        **settings.SIGNALING,
        "SFU_NODES": {"a": {"URL": "ws://10.0.0.7:8188", "CAPACITY": 100}, "b": {"URL": "ws://10.0.0.8:8188"}},
        "SFU_API_SECRET": "secret",
        "SFU_ADMIN_KEY": "key",
    }


@pytest.mark.django_db
@pytest.mark.usefixtures("two_nodes")
def test_the_admin_shows_each_node_with_its_live_rooms_and_drains_and_restores_it(admin_client: Client) -> None:
    Room.objects.create(id="on-a", topology="sfu")
    with seated([("on-a", "p1"), ("on-a", "p2"), ("on-b", "p3")]):
        assert async_to_sync(placement().place)("on-a", NODES) == "a"
        assert async_to_sync(placement().place)("on-b", NODES) == "b"
        listing = admin_client.get(reverse("admin:rooms_room_changelist"))
        assert reverse("admin:rooms_room_sfu_nodes") in listing.content.decode()
        page = admin_client.get(reverse("admin:rooms_room_sfu_nodes"))
        assert page.status_code == 200
        html = page.content.decode()
        row_a = re.search(r'<tr class="sfu-node" data-node="a" data-state="up">(.*?)</tr>', html, re.S)
        assert row_a is not None, html
        assert "2 / 100" in row_a.group(1)
        assert reverse("admin:rooms_room_change", args=["on-a"]) in row_a.group(1)
        assert 'data-node="b" data-state="up"' in html

        drained = admin_client.post(reverse("admin:rooms_room_sfu_nodes"), {"_drain": "a"}, follow=True)
        assert 'data-node="a" data-state="draining"' in drained.content.decode()
        assert [node.state for node in live.sfu_nodes()] == ["draining", "up"]
        assert async_to_sync(placement().place)("new", NODES) == "b"
        restored = admin_client.post(reverse("admin:rooms_room_sfu_nodes"), {"_undrain": "a"}, follow=True)
        assert 'data-node="a" data-state="up"' in restored.content.decode()
        unknown = admin_client.post(reverse("admin:rooms_room_sfu_nodes"), {"_drain": "zz"}, follow=True)
        assert "There is no SFU node" in unknown.content.decode()


@pytest.mark.django_db
@pytest.mark.usefixtures("two_nodes")
def test_only_those_who_may_change_rooms_drain_a_node(client: Client) -> None:
    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    client.force_login(viewer)
    assert client.get(reverse("admin:rooms_room_sfu_nodes")).status_code == 403
    viewer.user_permissions.add(*Permission.objects.filter(codename="view_room"))
    client.force_login(User.objects.get(pk=viewer.pk))
    page = client.get(reverse("admin:rooms_room_sfu_nodes"))
    assert page.status_code == 200
    assert "Drain</button>" not in page.content.decode()
    assert client.post(reverse("admin:rooms_room_sfu_nodes"), {"_drain": "a"}).status_code == 403
    assert [node.state for node in live.sfu_nodes()] == ["up", "up"]


@pytest.mark.django_db
@pytest.mark.usefixtures("two_nodes")
def test_metrics_show_each_nodes_rooms_peers_and_state(admin_client: Client) -> None:
    with seated([("m1", "p1"), ("m1", "p2")]):
        async_to_sync(placement().place)("m1", NODES)
        live.drain_sfu_node("b")
        text = admin_client.get("/metrics").content.decode()
    assert 'signaling_sfu_node_rooms{node="a"} 1.0' in text
    assert 'signaling_sfu_node_peers{node="a"} 2.0' in text
    assert 'signaling_sfu_node_rooms{node="b"} 0.0' in text
    assert 'signaling_sfu_node_state{node="b",state="draining"} 1.0' in text
    assert 'signaling_sfu_node_state{node="a",state="up"} 1.0' in text
