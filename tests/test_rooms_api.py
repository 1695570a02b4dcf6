"""The rooms REST API: listings with live occupancy, staff management, room tokens, events, and bad input."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.utils import timezone
from rest_framework.test import APIClient

from rooms.models import Room, RoomEvent
from rtcsite.servers import free_port
from signaling.tokens import read_room_token
from tests.conftest import seated

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff() -> APIClient:
    user = User.objects.create_user("moderator", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="rooms"))
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def member() -> tuple[APIClient, User]:
    user = User.objects.create_user("member", password="pw")
    client = APIClient()
    client.force_authenticate(user)
    return client, user


@pytest.fixture
def rooms() -> Iterator[None]:
    """Four stored rooms; "busy" has three live peers and "quiet" one."""
    Room.objects.create(id="busy", name="Busy room", max_peers=4)
    Room.objects.create(id="quiet", name="Quiet room")
    Room.objects.create(id="empty", name="Nobody here")
    Room.objects.create(id="shut", name="Closed room", is_open=False)
    Room.objects.create(id="secret", name="Private", access="token")
    with seated([("busy", "b1"), ("busy", "b2"), ("busy", "b3"), ("quiet", "q1")]):
        yield


def ids(response: Any) -> list[str]:
    return sorted(room["id"] for room in response.json()["results"])


def test_list_is_paginated_with_live_counts(rooms: None) -> None:
    response = APIClient().get("/api/rooms/", {"page_size": 2})
    body = response.json()
    assert response.status_code == 200
    assert body["count"] == 4
    assert len(body["results"]) == 2
    assert body["next"]
    everything = APIClient().get("/api/rooms/").json()["results"]
    counts = {room["id"]: room["live_peers"] for room in everything}
    assert counts == {"busy": 3, "quiet": 1, "empty": 0, "shut": 0}  # "secret" is token-only: not listed
    busy = next(room for room in everything if room["id"] == "busy")
    assert busy == {**busy, "name": "Busy room", "max_peers": 4, "is_open": True, "access": "anonymous"}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"is_open": "false"}, ["shut"]),
        ({"is_open": "true"}, ["busy", "empty", "quiet"]),
        ({"occupied": "true"}, ["busy", "quiet"]),
        ({"occupied": "false"}, ["empty", "shut"]),
        ({"min_peers": "2"}, ["busy"]),
        ({"search": "quiet"}, ["quiet"]),
        ({"search": "ROOM", "is_open": "true"}, ["busy", "quiet"]),
    ],
)
def test_list_filters(rooms: None, query: dict[str, str], expected: list[str]) -> None:
    assert ids(APIClient().get("/api/rooms/", query)) == expected


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"is_open": "maybe"}, "is_open"),
        ({"min_peers": "-1"}, "min_peers"),
        ({"occupied": "2"}, "occupied"),
        ({"min_peers": "x"}, "min_peers"),
        ({"min_peers": "\u00b2"}, "min_peers"),
    ],
)
def test_bad_filters_are_a_clear_400(rooms: None, query: dict[str, str], field: str) -> None:
    response = APIClient().get("/api/rooms/", query)
    assert response.status_code == 400
    assert field in response.json()


def test_detail_shows_peers_to_staff_only(rooms: None, staff: APIClient) -> None:
    detail = staff.get("/api/rooms/busy/").json()
    assert detail["live_peers"] == 3
    assert detail["peers"] == ["b1", "b2", "b3"]
    public = APIClient().get("/api/rooms/busy/").json()
    assert public["live_peers"] == 3
    assert public["peers"] is None
    assert APIClient().get("/api/rooms/secret/").status_code == 404
    assert staff.get("/api/rooms/secret/").status_code == 200


def test_unknown_room_is_a_json_404(rooms: None) -> None:
    response = APIClient().get("/api/rooms/no-such-room/")
    assert response.status_code == 404
    assert response.json() == {"detail": "No Room matches the given query."}


def test_staff_create_update_and_delete(staff: APIClient) -> None:
    created = staff.post("/api/rooms/", {"id": "team.sync", "name": "Team", "max_peers": 6}, format="json")
    assert created.status_code == 201
    assert created.json()["live_peers"] == 0
    assert Room.objects.get(pk="team.sync").max_peers == 6
    changed = staff.patch("/api/rooms/team.sync/", {"name": "Team sync", "access": "authenticated"}, format="json")
    assert changed.status_code == 200
    assert changed.json()["access"] == "authenticated"
    assert staff.patch("/api/rooms/team.sync/", {"id": "other"}, format="json").status_code == 400
    assert staff.delete("/api/rooms/team.sync/").status_code == 204
    assert not Room.objects.filter(pk="team.sync").exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"id": "a/b"}, "id"),
        ({"id": "x" * 129}, "id"),
        ({"id": "ok", "max_peers": 0}, "max_peers"),
        ({"id": "ok", "access": "everyone"}, "access"),
        ({"name": "no id"}, "id"),
    ],
)
def test_bad_room_is_refused_and_nothing_stored(staff: APIClient, body: dict[str, Any], field: str) -> None:
    response = staff.post("/api/rooms/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not Room.objects.exists()


def test_writes_need_staff(rooms: None, member: tuple[APIClient, User]) -> None:
    client, _ = member
    assert APIClient().post("/api/rooms/", {"id": "x"}, format="json").status_code in (401, 403)
    assert client.post("/api/rooms/", {"id": "x"}, format="json").status_code == 403
    assert client.post("/api/rooms/busy/close/").status_code == 403
    assert client.post("/api/rooms/busy/kick/", {"peer_id": "b1"}, format="json").status_code == 403
    assert client.delete("/api/rooms/busy/").status_code == 403
    assert client.get("/api/rooms/busy/events/").status_code == 403
    assert Room.objects.get(pk="busy").is_open
    assert not Room.objects.filter(pk="x").exists()


def test_session_writes_need_csrf(rooms: None) -> None:
    User.objects.create_user("admin", password="pw", is_staff=True)
    client = APIClient(enforce_csrf_checks=True)
    assert client.login(username="admin", password="pw")
    response = client.post("/api/rooms/", {"id": "no-csrf"}, format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert not Room.objects.filter(pk="no-csrf").exists()


def test_token_for_each_kind_of_room(rooms: None, member: tuple[APIClient, User]) -> None:
    client, user = member
    Room.objects.create(id="members", access="authenticated")
    # Anonymous room: anyone gets a token, issued to nobody in particular.
    anonymous = APIClient().post("/api/rooms/quiet/token")
    assert anonymous.status_code == 201
    grant = read_room_token(anonymous.json()["token"])
    assert grant is not None
    assert grant.room_id == "quiet"
    assert grant.user_id is None
    # Members-only room: logged in, and the token names the user.
    assert APIClient().post("/api/rooms/members/token").status_code in (401, 403)
    issued = client.post("/api/rooms/members/token/")
    assert issued.status_code == 201
    grant = read_room_token(issued.json()["token"])
    assert grant is not None
    assert grant.user_id == user.pk
    assert issued.json()["room_id"] == "members"
    # Token-only room: only its allowed users (and staff).
    assert client.post("/api/rooms/secret/token").status_code == 404
    Room.objects.get(pk="secret").allowed_users.add(user)
    assert client.post("/api/rooms/secret/token").status_code == 201
    # A closed room gives no tokens.
    assert client.post("/api/rooms/shut/token").status_code == 403


def test_events_are_paginated_and_filtered(rooms: None, staff: APIClient) -> None:
    now = timezone.now()
    for index in range(5):
        RoomEvent.objects.create(
            room_id="busy", kind="peer_joined", peer_id=f"p{index}", at=now - timedelta(minutes=index)
        )
    RoomEvent.objects.create(room_id="busy", kind="peer_left", peer_id="p0", at=now)
    # Three more events at the very same instant: the cursor must neither repeat nor skip any of them.
    for peer in ("t1", "t2", "t3"):
        RoomEvent.objects.create(room_id="busy", kind="peer_left", peer_id=peer, at=now)
    newest_first = list(RoomEvent.objects.filter(room_id="busy").order_by("-at", "-id").values_list("id", flat=True))
    seen: list[int] = []
    url: str | None = "/api/rooms/busy/events/?page_size=2"
    while url:
        page = staff.get(url).json()
        assert "count" not in page
        assert len(page["results"]) <= 2
        seen += [event["id"] for event in page["results"]]
        url = page["next"]
    assert seen == newest_first
    # Back from the last page: the page before it, and nothing past the newest.
    previous = staff.get(page["previous"]).json()
    assert [event["id"] for event in previous["results"]] == newest_first[-3:-1]
    joined = staff.get("/api/rooms/busy/events/", {"kind": "peer_joined"}).json()
    assert [event["peer_id"] for event in joined["results"]] == ["p0", "p1", "p2", "p3", "p4"]
    since = (now - timedelta(minutes=1, seconds=30)).isoformat()
    recent = staff.get("/api/rooms/busy/events/", {"since": since, "kind": "peer_joined"}).json()
    assert [event["peer_id"] for event in recent["results"]] == ["p0", "p1"]
    assert staff.get("/api/rooms/busy/events/", {"kind": "exploded"}).status_code == 400
    assert staff.get("/api/rooms/busy/events/", {"since": "yesterday"}).status_code == 400


@pytest.mark.parametrize(
    "cursor",
    [
        "nonsense",
        base64.b64encode(b"p=yesterday").decode(),
        base64.b64encode(b"p=2026-13-45T99:00:00").decode(),
        base64.b64encode(b"o=99999999999999999999&p=2026-01-01").decode(),
    ],
)
def test_a_bad_events_cursor_is_a_clear_404(rooms: None, staff: APIClient, cursor: str) -> None:
    response = staff.get("/api/rooms/busy/events/", {"cursor": cursor})
    assert response.status_code == 404
    assert response.json() == {"detail": "Invalid cursor"}


def test_listing_survives_an_unreachable_registry(rooms: None, settings: Any) -> None:
    settings.SIGNALING = {**settings.SIGNALING, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    response = APIClient().get("/api/rooms/")
    assert response.status_code == 200
    assert {room["live_peers"] for room in response.json()["results"]} == {None}
    # Filtering on occupancy needs the registry: a clear 503 rather than a wrong answer.
    unavailable = APIClient().get("/api/rooms/", {"occupied": "true"})
    assert unavailable.status_code == 503
    assert "registry" in unavailable.json()["detail"]


def test_scripts_authenticate_with_a_token_that_costs_no_password_hash(rooms: None) -> None:
    from io import StringIO
    from unittest import mock

    from django.contrib.auth import hashers
    from django.core.management import call_command

    user = User.objects.create_user("script", password="not-used-by-the-script", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_roomevent"))
    out = StringIO()
    call_command("drf_create_token", "script", stdout=out)
    key = out.getvalue().split()[2]
    script = APIClient()
    with mock.patch.object(hashers, "check_password", wraps=hashers.check_password) as hashed:
        response = script.get("/api/rooms/busy/events/", HTTP_AUTHORIZATION=f"Token {key}")
        assert response.status_code == 200
        assert "results" in response.json()
        assert not hashed.called
    # A wrong or missing token: 401 naming the token scheme.
    wrong = script.get("/api/rooms/busy/events/", HTTP_AUTHORIZATION="Token not-a-key")
    assert wrong.status_code == 401
    assert wrong.json() == {"detail": "Invalid token."}
    assert wrong.headers["WWW-Authenticate"] == "Token"
    assert script.get("/api/rooms/busy/events/").status_code == 401


def test_the_schema_offers_token_authentication(client: Any) -> None:
    import yaml

    schema = yaml.safe_load(client.get("/api/schema/").content)
    assert schema["components"]["securitySchemes"]["tokenAuth"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": 'Token-based authentication with required prefix "Token"',
    }
    events = schema["paths"]["/api/rooms/{id}/events/"]["get"]
    assert {"tokenAuth": []} in events["security"]
    assert {parameter["name"] for parameter in events["parameters"]} >= {"cursor", "page_size", "kind"}
    assert "count" not in events["responses"]["200"]["content"]["application/json"]["schema"].get("properties", {})
