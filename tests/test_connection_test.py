"""Connection tests over the signaling socket (extension): `connection-test` hands out the ICE servers a call
would use, with TURN credentials of the test's own; `connection-report` keeps a visitor's results for support
staff (a `ConnectionTest` row, in the admin, pruned with the log); who may use either, and every bound."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from datetime import timedelta
from io import StringIO
from types import SimpleNamespace
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from rooms.admin import browser_of
from rooms.connection_tests import keep_report
from rooms.models import ConnectionTest
from signaling import signals
from signaling.checks import check_access_settings, check_settings
from signaling.client_frames import INVALID_REPORT
from signaling.connection_test import MAX_REPORTS_PER_SOCKET, TEST_CREDENTIAL_TTL
from signaling.consumer import SignalingConsumer
from tests.conftest import Connect, Peer, settle

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "test-turn-secret"
TURN_URLS = ["turn:turn.example.test:3478?transport=udp", "turns:turn.example.test:443?transport=tcp"]
CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"
PASSING = [
    {"id": "signaling", "status": "pass", "message": "Connected in 12 ms.", "ms": 12},
    {"id": "stun", "status": "pass", "message": "Public address 198.51.100.7.", "ms": 30, "address": "198.51.100.7"},
    {"id": "turn-udp", "status": "fail", "message": "No answer over UDP.", "ms": 5000},
    {"id": "turn-tcp", "status": "pass", "message": "Relay over TCP.", "ms": 40},
    {"id": "turn-tls", "status": "skip", "message": "No TLS offered."},
    {"id": "media", "status": "pass", "message": "Round trip 21 ms.", "ms": 900, "rttMs": 21.04},
]


@pytest.fixture
def turn(settings: Any) -> None:
    settings.SIGNALING = {**settings.SIGNALING, "TURN_SECRET": SECRET, "TURN_URLS": TURN_URLS}


async def test_a_test_gets_turn_credentials_of_its_own_that_expire_soon(connect: Connect, turn: None) -> None:
    peer = await connect(client=("203.0.113.9", 5000))
    await peer.send(t="connection-test")
    frame = await peer.receive()
    assert frame["t"] == "connection-test"
    assert frame["clientAddress"] == "203.0.113.9"
    (server,) = frame["iceServers"]
    assert server["urls"] == TURN_URLS
    expiry, name = server["username"].split(":")
    # Named for no peer of any room, and good for two minutes, not the hour a call's credentials last.
    assert name.startswith("test-")
    assert abs(int(expiry) - (time.time() + TEST_CREDENTIAL_TTL)) < 5
    digest = hmac.new(SECRET.encode(), server["username"].encode(), hashlib.sha1).digest()
    assert server["credential"] == base64.b64encode(digest).decode()
    # Two tests, two usernames.
    await peer.send(t="connection-test")
    assert (await peer.receive())["iceServers"][0]["username"] != server["username"]


async def test_without_ice_servers_configured_the_test_is_told_so(connect: Connect, settings: Any) -> None:
    settings.SIGNALING = {**settings.SIGNALING, "ICE_SERVERS": None, "TURN_SECRET": None, "TURN_URLS": []}
    peer = await connect()
    await peer.send(t="connection-test")
    frame = await peer.receive()
    assert frame["t"] == "connection-test"
    assert "iceServers" not in frame  # the client then tests its own defaults, as a call would use


async def test_tests_can_be_turned_off_or_kept_for_logged_in_users(connect: Connect, settings: Any, turn: None) -> None:
    settings.SIGNALING = {**settings.SIGNALING, "CONNECTION_TEST": "off"}
    peer = await connect()
    await peer.send(t="connection-test")
    await peer.expect_error("forbidden", "Connection tests are off on this server")
    await peer.send(t="connection-report", report={"checks": PASSING})
    await peer.expect_error("forbidden", "Connection tests are off on this server")

    settings.SIGNALING = {**settings.SIGNALING, "CONNECTION_TEST": "authenticated"}
    anonymous = await connect()
    await anonymous.send(t="connection-test")
    await anonymous.expect_error("forbidden", "Log in to test your connection")
    user = await User.objects.acreate_user("erin")
    logged_in = await open_as(user)
    try:
        await logged_in.send(t="connection-test")
        assert (await logged_in.receive())["t"] == "connection-test"
    finally:
        await logged_in.close()


async def open_as(user: Any, session_key: str = "") -> Peer:
    communicator = WebsocketCommunicator(
        SignalingConsumer.as_asgi(), "/api/call/signal", headers=[(b"user-agent", CHROME.encode())]
    )
    communicator.scope["user"] = user
    communicator.scope["session"] = SimpleNamespace(session_key=session_key)
    connected, _ = await communicator.connect()
    assert connected
    return Peer(communicator)


async def test_a_report_is_kept_with_who_sent_it_and_the_server_decides_whether_it_passed() -> None:
    user = await User.objects.acreate_user("frank")
    peer = await open_as(user, session_key="s" * 32)
    try:
        # The client says ok; one check failed, so it did not pass. The checks come in any order.
        await peer.send(t="connection-report", report={"ok": True, "checks": list(reversed(PASSING))})
        received = await peer.receive()
    finally:
        await peer.close()
    assert received["t"] == "connection-report-received"
    await settle()
    report = await ConnectionTest.objects.aget(pk=uuid.UUID(received["id"]))
    assert report.ok is False
    assert report.user_id == user.pk
    assert report.session_key == "s" * 32
    assert report.user_agent == CHROME
    assert [check["id"] for check in report.checks] == [check["id"] for check in PASSING]
    assert report.checks[-1] == {
        "id": "media",
        "status": "pass",
        "message": "Round trip 21 ms.",
        "ms": 900.0,
        "rttMs": 21.0,
    }
    assert report.check_status("turn-udp") == "fail"


@pytest.mark.parametrize(
    "report",
    [
        None,
        {},
        {"checks": []},
        {"checks": "all good"},
        {"checks": [{"id": "dns", "status": "pass", "message": ""}]},
        {"checks": [{"id": "stun", "status": "green", "message": ""}]},
        {"checks": [{"id": "stun", "status": "pass"}]},
        {"checks": [{"id": "stun", "status": "pass", "message": "x" * 301}]},
        {"checks": [{"id": "stun", "status": "pass", "message": "", "ms": -1}]},
        {"checks": [{"id": "stun", "status": "pass", "message": "", "ms": True}]},
        {"checks": [{"id": "stun", "status": "pass", "message": "", "rttMs": 10**9}]},
        {"checks": [{"id": "stun", "status": "pass", "message": "", "address": "a" * 65}]},
        {"checks": [{"id": "stun", "status": "pass", "message": ""}, {"id": "stun", "status": "fail", "message": ""}]},
        {"checks": [*PASSING, {"id": "stun", "status": "pass", "message": ""}]},
        {"checks": ["stun"]},
    ],
)
async def test_a_malformed_report_is_refused_and_nothing_is_kept(connect: Connect, report: Any) -> None:
    peer = await connect()
    await peer.send(t="connection-report", **({} if report is None else {"report": report}))
    await peer.expect_error("invalid-message", INVALID_REPORT)
    await peer.assert_still_serving()
    await settle()
    assert await ConnectionTest.objects.acount() == 0


async def test_reports_and_tests_are_bounded_per_socket_and_per_address(connect: Connect, settings: Any) -> None:
    peer = await connect()
    for _ in range(MAX_REPORTS_PER_SOCKET):
        await peer.send(t="connection-report", report={"checks": PASSING[:1]})
        assert (await peer.receive())["t"] == "connection-report-received"
    await peer.send(t="connection-report", report={"checks": PASSING[:1]})
    await peer.expect_error("rate-limited", "Too many connection reports from this socket")
    await settle()
    assert await ConnectionTest.objects.acount() == MAX_REPORTS_PER_SOCKET

    # Each request costs one of the address's joins: a flood of tests is no cheaper than a flood of joins.
    settings.SIGNALING = {**settings.SIGNALING, "JOIN_RATE_PER_ADDRESS": 0.001, "JOIN_BURST_PER_ADDRESS": 2}
    flooder = await connect(client=("198.51.100.20", 1))
    for _ in range(2):
        await flooder.send(t="connection-test")
        assert (await flooder.receive())["t"] == "connection-test"
    await flooder.send(t="connection-test")
    await flooder.expect_error("rate-limited")
    # Another address is not affected.
    other = await connect(client=("198.51.100.21", 1))
    await other.send(t="connection-test")
    assert (await other.receive())["t"] == "connection-test"


async def test_a_server_that_keeps_no_reports_refuses_them_rather_than_losing_them(connect: Connect) -> None:
    signals.connection_reported.disconnect(dispatch_uid="rooms.connection_tests.keep")
    try:
        peer = await connect()
        await peer.send(t="connection-report", report={"checks": PASSING})
        await peer.expect_error("forbidden", "This server keeps no connection reports")
    finally:
        signals.connection_reported.connect(keep_report, weak=False, dispatch_uid="rooms.connection_tests.keep")


def test_the_setting_is_checked(settings: Any) -> None:
    settings.SIGNALING = {"CONNECTION_TEST": "everyone"}
    assert [message.id for message in check_settings()] == ["signaling.E018"]
    settings.SIGNALING = {
        "CONNECTION_TEST": "anyone",
        "ALLOW_AD_HOC_ROOMS": False,
        "TURN_SECRET": "s",
        "ROOM_RESOLVER": "rooms.resolver.ModelRoomResolver",
    }
    assert [message.id for message in check_access_settings()] == ["signaling.W004"]
    settings.SIGNALING = {**settings.SIGNALING, "CONNECTION_TEST": "authenticated"}
    assert check_access_settings() == []


def stored_report(**fields: Any) -> ConnectionTest:
    values: dict[str, Any] = {
        "ok": False,
        "checks": PASSING,
        "client_address": "203.0.113.5",
        "user_agent": CHROME,
        **fields,
    }
    return ConnectionTest.objects.create(**values)


def test_support_staff_find_a_visitors_report_in_the_admin(admin_client: Client) -> None:
    user = User.objects.create_user("gina")
    mine = stored_report(user=user, session_key="k" * 32)
    other = stored_report(client_address="203.0.113.6", ok=True)
    url = reverse("admin:rooms_connectiontest_changelist")
    for term, found in (
        (str(mine.pk), [mine]),
        ("gina", [mine]),
        ("203.0.113.6", [other]),
        ("k" * 32, [mine]),
        ("nobody", []),
    ):
        response = admin_client.get(url, {"q": term})
        assert response.status_code == 200
        assert list(response.context["cl"].result_list) == found, term
    listing = admin_client.get(url).content.decode()
    assert "Chrome 156 (X11; Linux x86_64)" in listing
    assert listing.count("\u2718\u00a0TURN\u00a0UDP") == 2
    detail = admin_client.get(reverse("admin:rooms_connectiontest_change", args=[mine.pk])).content.decode()
    assert "No answer over UDP." in detail
    assert "round trip 21 ms" in detail
    assert "address 198.51.100.7" in detail
    assert "Reports of gina" in detail
    # The link's query is encoded: a user name with "+" (Django allows it) still finds its reports.
    plus = stored_report(user=User.objects.create_user("g+h@x"))
    detail = admin_client.get(reverse("admin:rooms_connectiontest_change", args=[plus.pk])).content.decode()
    assert "?q=g%2Bh%40x" in detail
    # Kept as sent: staff cannot add, change or delete reports.
    assert admin_client.post(reverse("admin:rooms_connectiontest_add")).status_code == 403


@pytest.mark.parametrize(
    ("agent", "summary"),
    [
        (CHROME, "Chrome 156 (X11; Linux x86_64)"),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:140.0) Gecko/20100101 Firefox/140.0",
            "Firefox 140 (Windows NT 10.0; Win64; x64; rv:140.0)",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Version/18.5 Mobile/15E148 Safari/604.1",
            "Safari 18 (iPhone; CPU iPhone OS 18_5 like Mac OS X)",
        ),
        (CHROME + " Edg/140.0.0.0", "Edge 140 (X11; Linux x86_64)"),
        ("curl/8.0", "curl/8.0"),
    ],
)
def test_the_admin_names_the_browser_of_a_user_agent(agent: str, summary: str) -> None:
    assert browser_of(agent) == summary


def test_old_reports_are_pruned_with_the_log(settings: Any) -> None:
    settings.ROOMS = {"LOG_RETENTION_DAYS": 30, "AD_HOC_ROOM_RETENTION_DAYS": None}
    old = stored_report(created_at=timezone.now() - timedelta(days=31))
    recent = stored_report(created_at=timezone.now() - timedelta(days=29))
    out = StringIO()
    call_command("prune_log", stdout=out)
    assert "Removed 1 connection test report(s)" in out.getvalue()
    assert list(ConnectionTest.objects.values_list("pk", flat=True)) == [recent.pk]
    assert old.pk != recent.pk
