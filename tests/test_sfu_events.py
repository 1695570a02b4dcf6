"""Janus's events in the lifecycle log (issue 21): Janus's HTTP event handler posts to ``/sfu/events``, which only
Janus can use (basic auth with ``SIGNALING["SFU_EVENTS_SECRET"]``); of what it posts, media up, media lost, slow
link and hang-up of our peers' connections (told apart by the label each worker gives its handles) become
``sfu_media`` room events. The events below are shaped as Janus 1.1 posts them (captured from the Janus these
tests run); the browser test of a room of eight sees them arrive from a real one."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import AsyncClient

from rooms.models import Room, RoomEvent
from signaling.sfu.janus_events import SfuMediaKind, handle_label, read_label, reports_of
from tests.conftest import settle

pytestmark = pytest.mark.django_db(transaction=True)
SECRET = "events-secret-for-the-tests"


def janus_event(type_: int, label: str | None, event: dict[str, Any], subtype: int = 1) -> dict[str, Any]:
    posted: dict[str, Any] = {
        "emitter": "django-rtc-signaling",
        "type": type_,
        "subtype": subtype,
        "timestamp": 1796627345292991,
        "session_id": 7017433714115227,
        "handle_id": 8492230196676346,
        "event": event,
    }
    if label is not None:
        posted["opaque_id"] = label
    return posted


PUBLISHER = handle_label("webinar", "peer-abc", "publisher")
SUBSCRIBER = handle_label("webinar", "peer-abc", "subscriber")
POSTED = [
    janus_event(16, PUBLISHER, {"ice": "connecting", "stream_id": 1, "component_id": 1}),
    janus_event(16, PUBLISHER, {"connection": "webrtcup"}, 6),  # the publisher's media says more: not logged
    janus_event(32, PUBLISHER, {"media": "video", "mid": "0", "receiving": True}),
    janus_event(16, SUBSCRIBER, {"connection": "webrtcup"}, 6),
    janus_event(32, PUBLISHER, {"media": "audio", "mid": "1", "receiving": False}),
    janus_event(32, PUBLISHER, {"media": "video", "mid": "0", "slow_link": "uplink", "lost_lastsec": 31}, 2),
    janus_event(32, PUBLISHER, {"mid": "0", "media": "video", "codec": "vp8", "base": 90000, "lost": 0}, 3),
    janus_event(16, PUBLISHER, {"connection": "hangup", "reason": "DTLS alert"}, 6),
    janus_event(16, "someone-else's-handle", {"connection": "hangup", "reason": "DTLS alert"}, 6),
    janus_event(16, None, {"connection": "hangup", "reason": "DTLS alert"}, 6),
    janus_event(1, None, {"name": "created"}),
    "not an event",
]


def test_a_handle_label_names_the_room_the_peer_and_the_connection() -> None:
    assert read_label(PUBLISHER) == ("webinar", "peer-abc", "publisher")
    for foreign in (None, 7, "", "[1,2,3]", '["a","b","c"]', '["a","b"]', "x" * 600, "not json"):
        assert read_label(foreign) is None, foreign


def test_of_what_janus_posts_media_up_and_lost_slow_links_and_hangups_of_our_handles_are_kept() -> None:
    reports = reports_of(POSTED)
    assert [(r.connection, r.kind, r.media, r.detail) for r in reports] == [
        ("publisher", SfuMediaKind.MEDIA_UP, "video", {}),
        ("subscriber", SfuMediaKind.MEDIA_UP, "", {}),
        ("publisher", SfuMediaKind.MEDIA_LOST, "audio", {}),
        ("publisher", SfuMediaKind.SLOW_LINK, "video", {"direction": "uplink", "lost": 31}),
        ("publisher", SfuMediaKind.HANGUP, "", {"reason": "DTLS alert"}),
    ]
    assert {(r.room_id, r.peer_id) for r in reports} == {("webinar", "peer-abc")}
    assert reports[0].at.timestamp() == pytest.approx(1796627345.292991)
    # One event posted alone, or nothing of use: no report, no error.
    assert len(reports_of(POSTED[2])) == 1
    for nothing in (None, 3, "x", {}, [], [[]], {"event": "x", "opaque_id": PUBLISHER}):
        assert reports_of(nothing) == []


def authorization(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def post(body: object, auth: str | None = None) -> Any:
    headers = {"Authorization": auth} if auth is not None else {}
    return await AsyncClient().post("/sfu/events", json.dumps(body), content_type="application/json", headers=headers)


async def test_janus_events_land_in_the_rooms_lifecycle_log(settings: Any) -> None:
    settings.SIGNALING = {**settings.SIGNALING, "SFU_EVENTS_SECRET": SECRET}
    await Room.objects.acreate(id="webinar", topology="sfu")
    response = await post(POSTED, authorization("janus", SECRET))
    assert (response.status_code, response.json()) == (200, {"logged": 5})
    await settle()
    logged = [(e.kind, e.peer_id, e.detail) async for e in RoomEvent.objects.filter(room_id="webinar").order_by("id")]
    assert logged == [
        ("sfu_media", "peer-abc", {"event": "media-up", "connection": "publisher", "media": "video"}),
        ("sfu_media", "peer-abc", {"event": "media-up", "connection": "subscriber", "media": ""}),
        ("sfu_media", "peer-abc", {"event": "media-lost", "connection": "publisher", "media": "audio"}),
        (
            "sfu_media",
            "peer-abc",
            {"event": "slow-link", "connection": "publisher", "media": "video", "direction": "uplink", "lost": 31},
        ),
        (
            "sfu_media",
            "peer-abc",
            {"event": "hangup", "connection": "publisher", "media": "", "reason": "DTLS alert"},
        ),
    ]


async def test_an_event_about_a_room_that_is_not_stored_gives_it_no_row(settings: Any) -> None:
    settings.SIGNALING = {**settings.SIGNALING, "SFU_EVENTS_SECRET": SECRET}
    body = janus_event(16, handle_label("nowhere", "peer-abc", "subscriber"), {"connection": "webrtcup"}, 6)
    assert (await post(body, authorization("janus", SECRET))).json() == {"logged": 1}
    await settle()
    assert not await Room.objects.filter(id="nowhere").aexists()
    event = await RoomEvent.objects.aget(kind="sfu_media")
    assert (event.room_id, event.peer_id) == (None, "peer-abc")


@pytest.mark.parametrize(
    "auth",
    [
        None,
        authorization("janus", "wrong"),
        authorization("someone", SECRET),
        "Bearer " + SECRET,
        "Basic not-base64!",
        "Basic " + base64.b64encode(b"\xff\xfe").decode(),
    ],
)
async def test_only_janus_may_post_its_events(settings: Any, auth: str | None) -> None:
    settings.SIGNALING = {**settings.SIGNALING, "SFU_EVENTS_SECRET": SECRET}
    response = await post(POSTED, auth)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Basic realm="sfu-events"'
    await settle()
    assert not await RoomEvent.objects.aexists()


async def test_the_endpoint_is_not_there_without_a_secret_and_takes_only_json_posts(settings: Any) -> None:
    assert (await post(POSTED, authorization("janus", ""))).status_code == 404
    settings.SIGNALING = {**settings.SIGNALING, "SFU_EVENTS_SECRET": SECRET}
    assert (await AsyncClient().get("/sfu/events")).status_code == 405
    response = await AsyncClient().post(
        "/sfu/events",
        "{not json",
        content_type="application/json",
        headers={"Authorization": authorization("janus", SECRET)},
    )
    assert (response.status_code, response.json()) == (400, {"error": "The body is not JSON"})


def test_the_operators_command_points_janus_at_the_endpoint(settings: Any, tmp_path: Path) -> None:
    settings.SIGNALING = {
        **settings.SIGNALING,
        "SFU_JANUS_URL": "ws://127.0.0.1:8188",
        "SFU_API_SECRET": "api",
        "SFU_ADMIN_KEY": "admin",
    }
    with pytest.raises(CommandError, match="SFU_EVENTS_SECRET"):
        call_command("janus_config", str(tmp_path), "--events-url", "http://10.0.0.5:8000/sfu/events")
    settings.SIGNALING = {**settings.SIGNALING, "SFU_EVENTS_SECRET": SECRET}
    with pytest.raises(CommandError, match="http"):
        call_command("janus_config", str(tmp_path), "--events-url", "ftp://10.0.0.5/sfu/events")
    call_command("janus_config", str(tmp_path), "--events-url", "http://10.0.0.5:8000/sfu/events")
    handler = (tmp_path / "janus.eventhandler.sampleevh.jcfg").read_text()
    assert 'backend = "http://10.0.0.5:8000/sfu/events"' in handler
    assert f'backend_pwd = "{SECRET}"' in handler
    assert 'events = "webrtc,media"' in handler
    assert "stats_period = 0" in (tmp_path / "janus.jcfg").read_text()
