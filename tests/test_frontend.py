"""The demo pages as HTTP: the lobby's room list, entering a room, bad room names (the browser side is in
tests/browser)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from rooms.models import Room
from rtcsite.servers import free_port
from tests.conftest import seated

pytestmark = pytest.mark.django_db


@pytest.fixture
def live_peers() -> Iterator[None]:
    """Two peers in stored room "standup", one in ad-hoc room "hallway" (no stored row)."""
    with seated([("standup", "s1"), ("standup", "s2"), ("hallway", "h1")]):
        yield


def rows(html: str) -> list[str]:
    return [part.split('"', 1)[0] for part in html.split('<tr data-room="')[1:]]


def test_lobby_lists_live_rooms_first_with_counts(client: Client, live_peers: None) -> None:
    Room.objects.create(id="standup", name="Daily standup", max_peers=4)
    Room.objects.create(id="archive", name="Old room", is_open=False)
    staff = User.objects.create_user("moderator", is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(codename="view_room"))
    client.force_login(staff)
    html = client.get("/").content.decode()
    assert rows(html) == ["standup", "hallway", "archive"]
    assert "Daily standup" in html
    assert '<td class="live">2 / 4<span class="full-label" hidden> · full</span>' in html
    # An ad-hoc room has no capacity stored: the endpoint's default (2) is what joins meet.
    assert '<td class="live">1 / 2<span class="full-label" hidden> · full</span>' in html
    # A closed room is listed, without links to join it.
    archive = html.split('<tr data-room="archive"')[1].split("</tr>")[0]
    assert "(closed)" in archive
    assert "/call/archive/" not in archive
    assert 'href="/call/standup/"' in html
    assert 'href="/chat/hallway/"' in html


def test_lobby_is_no_billboard_for_strangers(client: Client, live_peers: None) -> None:
    """Visitors see stored rooms only: not live ad-hoc rooms (named by whoever joined first), not their stored rows,
    and not token-only rooms."""
    Room.objects.create(id="standup", name="Daily standup", max_peers=4)
    Room.objects.create(id="buy-cheap-pills", ad_hoc=True)
    Room.objects.create(id="secret-board", name="Board meeting", access="token")
    html = client.get("/").content.decode()
    assert rows(html) == ["standup"]
    assert "hallway" not in html
    assert "buy-cheap-pills" not in html
    assert "secret-board" not in html
    assert "Board meeting" not in html


def test_lobby_without_rooms_invites_to_enter_one(client: Client) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert "No rooms yet" in response.content.decode()


@pytest.mark.parametrize(("kind", "path"), [("video", "/call/team.sync_1/"), ("chat", "/chat/team.sync_1/")])
def test_entering_a_room_goes_to_its_page(client: Client, kind: str, path: str) -> None:
    response = client.get("/", {"room": " team.sync_1 ", "kind": kind})
    assert response.status_code == 302
    assert response["Location"] == path
    page = client.get(path).content.decode()
    assert 'data-room="team.sync_1"' in page
    assert 'data-signal="/api/call/signal"' in page


@pytest.mark.parametrize(("room", "kind"), [("a/b", "video"), ("", "video"), ("x" * 129, "chat"), ("ok", "sms")])
def test_bad_room_name_or_kind_is_a_clear_400(client: Client, room: str, kind: str) -> None:
    response = client.get("/", {"room": room, "kind": kind})
    assert response.status_code == 400
    assert "A room name is 1 to 128 letters" in response.content.decode()


@pytest.mark.parametrize("path", ["/call/a%20b/", "/chat/%3Cscript%3E/", "/call/" + "x" * 129 + "/"])
def test_room_page_for_an_impossible_room_is_404(client: Client, path: str) -> None:
    assert client.get(path).status_code == 404


def test_lobby_survives_an_unreachable_registry(client: Client, settings: Any) -> None:
    Room.objects.create(id="stored", name="Stored room")
    settings.SIGNALING = {**settings.SIGNALING, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    html = client.get("/").content.decode()
    assert "Live peer counts are unavailable" in html
    assert rows(html) == ["stored"]


def test_lobby_rooms_json_gives_live_occupancy_and_fullness(client: Client, live_peers: None) -> None:
    Room.objects.create(id="standup", name="Daily standup", max_peers=2)
    staff = User.objects.create_user("moderator", is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(codename="view_room"))
    client.force_login(staff)
    data = client.get("/rooms.json").json()
    assert data["live_known"] is True
    by_id = {room["id"]: room for room in data["rooms"]}
    assert by_id["standup"] == {"id": "standup", "live_peers": 2, "max_peers": 2, "is_open": True, "is_full": True}
    assert by_id["hallway"]["max_peers"] == 2
    assert by_id["hallway"]["is_full"] is False
