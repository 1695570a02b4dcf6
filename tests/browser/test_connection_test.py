"""The "Test my connection" page against a real coturn, in Chromium: every check green with coturn up; the right
ones red with coturn down and with UDP blocked; a sent report in the admin, with the visitor's address and
browser."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from rtcsite.servers import TurnServer
from tests.browser.conftest import OpenPage, Site, log_in_as_staff, page_opener, serve_site

pytestmark = pytest.mark.network

SECRET = "connection-test-secret"
CHECKS = ("signaling", "stun", "turn-udp", "turn-tcp", "turn-tls", "media")


@pytest.fixture(scope="module")
def browser(browser_trusting_test_certificates: Browser) -> Browser:
    return browser_trusting_test_certificates


def site_for(turn: TurnServer, *transports: str) -> Iterator[Site]:
    settings = {"TURN_SECRET": SECRET, "TURN_URLS": turn.urls(*transports)}
    with serve_site({"SIGNALING_SETTINGS": json.dumps(settings)}) as site:
        yield site


@pytest.fixture(scope="module")
def turn() -> Iterator[TurnServer]:
    with TurnServer(SECRET, tls=True) as server:
        yield server


@pytest.fixture(scope="module")
def turn_site(turn: TurnServer) -> Iterator[Site]:
    yield from site_for(turn, "udp", "tcp", "tls")


@pytest.fixture
def open_page(browser: Browser, turn_site: Site, request: pytest.FixtureRequest) -> Iterator[OpenPage]:
    yield from page_opener(browser, turn_site.url, request)


def run_test(page: Page) -> dict[str, str]:
    """Run the page's test; each check's status, and the messages, once the summary is in."""
    page.click("#run")
    page.wait_for_selector("#summary[data-ok='true'], #summary[data-ok='false']", timeout=30000)
    return {check: page.get_attribute(f"[data-check='{check}']", "data-status") or "" for check in CHECKS}


def messages(page: Page) -> dict[str, str]:
    return {check: page.inner_text(f"[data-check='{check}'] .message") for check in CHECKS}


def test_all_green_with_coturn_up_and_a_sent_report_appears_in_the_admin(
    open_page: OpenPage, turn: TurnServer, turn_site: Site
) -> None:
    page = open_page("/test/")
    statuses = run_test(page)
    assert statuses == dict.fromkeys(CHECKS, "pass"), messages(page)
    assert page.get_attribute("#summary", "data-ok") == "true"
    # coturn answered the STUN check (on its TURN port); the media check timed its round trip.
    assert "The STUN server answered" in messages(page)["stun"]
    assert "round trip" in messages(page)["media"]
    turn.wait_for_log("ALLOCATE", "test-")  # coturn allocated for the test's own credentials

    page.click("#send")
    page.wait_for_selector("#sent[data-ok='true']")
    reference = page.get_attribute("#sent", "data-reference")
    assert reference

    admin = open_page("/admin/login/")
    log_in_as_staff(admin, turn_site)
    admin.goto(f"{turn_site.url}/admin/rooms/connectiontest/?q={reference}")
    rows = admin.locator("#result_list tbody tr")
    assert rows.count() == 1
    row = rows.first.inner_text()
    assert "127.0.0.1" in row
    assert "HeadlessChrome 1" in row
    assert row.count("\u2714") == len(CHECKS)
    rows.first.locator("a").first.click()
    detail = admin.inner_text("#content")
    assert reference in detail
    assert "round trip" in detail
    assert "HeadlessChrome" in detail


def results_with(browser: Browser, request: pytest.FixtureRequest, turn: TurnServer) -> tuple[dict[str, str], ...]:
    """The demo page's test against a site that offers ``turn`` over UDP, TCP and TLS: each check's status, each
    check's message, and the summary's verdict (read before the page and the site go)."""
    for site in site_for(turn, "udp", "tcp", "tls"):
        for open_page in page_opener(browser, site.url, request):
            page = open_page("/test/")
            statuses = run_test(page)
            return statuses, messages(page), {"ok": page.get_attribute("#summary", "data-ok") or ""}
    raise AssertionError("no page was opened")


def test_with_coturn_down_the_relay_checks_fail_and_say_so(browser: Browser, request: pytest.FixtureRequest) -> None:
    with TurnServer(SECRET, tls=True) as gone:
        pass  # stopped: its ports answer nothing
    statuses, text, summary = results_with(browser, request, gone)
    assert statuses == {
        "signaling": "pass",
        "stun": "fail",
        "turn-udp": "fail",
        "turn-tcp": "fail",
        "turn-tls": "fail",
        "media": "skip",
    }, text
    assert "did not answer" in text["stun"]
    assert "blocks UDP" in text["stun"]
    assert "Could not reach the TURN server over TCP" in text["turn-tcp"]
    assert summary["ok"] == "false"


def test_with_udp_blocked_udp_fails_and_tcp_and_tls_carry_the_media(
    browser: Browser, request: pytest.FixtureRequest
) -> None:
    with TurnServer(SECRET, udp=False, tls=True) as tcp_only:
        statuses, text, _ = results_with(browser, request, tcp_only)
        assert statuses == {
            "signaling": "pass",
            "stun": "fail",
            "turn-udp": "fail",
            "turn-tcp": "pass",
            "turn-tls": "pass",
            "media": "pass",
        }, text
        assert "over TCP" in text["media"] or "over TLS" in text["media"]
