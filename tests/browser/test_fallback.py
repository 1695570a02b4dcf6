"""Falling back to the relay by itself, on networks of the test's own (``rtcsite.servers.SplitNetwork``: two
network namespaces that reach this machine's daphne and coturn, and each other only over a direct link that the
test can cut): with no direct path the call goes through the relay at once; when the direct path dies mid-call,
the call moves onto the relay without the user doing anything, keeps its peers and loses no message."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from rtcsite.servers import ROOT, WATCH_SCRIPT, SplitNetwork, TurnServer, wait_for_async
from tests.browser.conftest import CHROMIUM_ARGS, Site, join, peer_id, serve_site, wait_connected

pytestmark = [
    pytest.mark.network,
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces (ip netns) need root"),
]

SECRET = "fallback-turn-secret"


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as running:
        yield running


class Call:
    """A network, coturn on its host address, the site there, and one Chromium on each of its two hosts."""

    def __init__(self, playwright: Playwright, network: SplitNetwork, site: Site) -> None:
        self.site = site
        self.network = network
        # The site is plain http on a private address: a secure context only by this flag (getUserMedia needs one).
        args = [*CHROMIUM_ARGS, f"--unsafely-treat-insecure-origin-as-secure={site.url}"]
        self.browsers: list[Browser] = [
            playwright.chromium.launch(executable_path=network.chromium(host), args=args) for host in ("a", "b")
        ]

    def pages(self, room_id: str) -> tuple[Page, Page]:
        pages = []
        for browser in self.browsers:
            page = browser.new_page()
            page.set_default_timeout(30000)
            page.goto(f"{self.site.url}/call/{room_id}/")
            pages.append(page)
        return pages[0], pages[1]

    def close(self) -> None:
        for browser in self.browsers:
            browser.close()


def call_on(playwright: Playwright, lan: bool) -> Iterator[Call]:
    with SplitNetwork(lan=lan) as network, TurnServer(SECRET, address=network.host_address) as turn:
        settings = {"TURN_SECRET": SECRET, "TURN_URLS": turn.urls("udp", "tcp")}
        with serve_site({"SIGNALING_SETTINGS": json.dumps(settings)}, address=network.host_address) as site:
            call = Call(playwright, network, site)
            try:
                yield call
            finally:
                call.close()


def selected_pair(page: Page, remote: str) -> dict[str, object]:
    summary = page.evaluate("(id) => window.call.getQualitySummary(id)", remote)
    return dict(summary["candidatePair"])


def test_with_no_direct_path_the_call_goes_through_the_relay(playwright: Playwright, room_id: str) -> None:
    for call in call_on(playwright, lan=False):
        alice, bob = call.pages(room_id)
        started = time.monotonic()
        join(alice)
        join(bob)
        wait_connected(alice, bob)
        print(f"connected through the relay {time.monotonic() - started:.2f} s after the joins")
        a, b = peer_id(alice), peer_id(bob)
        assert selected_pair(alice, b)["usingRelay"] is True
        assert selected_pair(bob, a)["usingRelay"] is True


def test_when_the_direct_path_dies_mid_call_the_call_moves_to_the_relay_by_itself(
    playwright: Playwright, room_id: str
) -> None:
    for call in call_on(playwright, lan=True):
        alice, bob = call.pages(room_id)
        join(alice)
        join(bob)
        wait_connected(alice, bob)
        a, b = peer_id(alice), peer_id(bob)
        # Both hosts on one link: the call goes direct.
        assert selected_pair(alice, b) == {**selected_pair(alice, b), "usingRelay": False, "localCandidateType": "host"}
        for page, other in ((alice, b), (bob, a)):
            page.evaluate(WATCH_SCRIPT, other)
        alice.wait_for_function("window.watch.messages > 5")
        assert selected_pair(bob, a)["usingRelay"] is False  # still direct when the path dies
        call.network.cut_lan()
        cut = time.monotonic()
        for page, other in ((alice, b), (bob, a)):
            wait_for_async(
                page,
                "async (id) => (await window.call.getQualitySummary(id))?.candidatePair?.usingRelay === true",
                other,
                timeout=60,
            )
        print(f"moved onto the relay {time.monotonic() - cut:.2f} s after the direct path died")
        for page in (alice, bob):
            # Video and messages flow again, through the relay.
            page.wait_for_function(
                "([frames, messages]) => window.watch.frames > frames + 30 && window.watch.messages > messages + 5",
                arg=page.evaluate("[window.watch.frames, window.watch.messages]"),
                timeout=30000,
            )
        for page in (alice, bob):
            page.evaluate("() => { window.stopping = true; clearInterval(window.sender); }")
        for sender, receiver in ((alice, bob), (bob, alice)):
            sent = sender.evaluate("window.sent")
            # Every message sent arrives (the data channel is reliable: what the dead path lost is sent again).
            receiver.wait_for_function("(n) => window.watch.messages === n", arg=sent)
        for page in (alice, bob):
            watch = page.evaluate("window.watch")
            print("longest stall (ms):", watch["stalls"], "ICE restarts:", watch["restarts"])
            assert watch["left"] == [], watch
            assert page.evaluate("window.call.getSnapshot().reconnectAttempt") == 0
            assert page.evaluate("window.call.state") == "connected"


def test_with_no_direct_path_the_python_peer_talks_through_the_relay_by_itself(
    playwright: Playwright, room_id: str
) -> None:
    """The echo peer (``manage.py echo_peer``) on host b, a browser on host a; TURN offered, not forced."""
    for call in call_on(playwright, lan=False):
        page = call.pages(room_id)[0]
        join(page)
        page.wait_for_function("window.call.state === 'signaling' && window.call.peerId !== null")
        page.evaluate("window.call.createDataChannel({ label: 'chat' })")
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.browser.settings",
            "RTCSITE_DATABASE_URL": f"sqlite:///{call.site.database}",
        }
        echo = subprocess.Popen(
            call.network.command(
                "b",
                sys.executable,
                "manage.py",
                "echo_peer",
                room_id,
                "--url",
                call.site.daphne.ws_url + "/api/call/signal",
            ),
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            page.wait_for_function("window.call.remotePeerIds.length === 1")
            echo_id = page.evaluate("window.call.remotePeerIds[0]")
            page.wait_for_function("(id) => window.call.getDataChannelState(id, 'chat') === 'open'", arg=echo_id)
            assert selected_pair(page, echo_id)["usingRelay"] is True
            # Our messages and our camera come back from the echo peer, through the relay.
            page.evaluate(WATCH_SCRIPT, echo_id)
            page.wait_for_function("window.watch.messages > 10 && window.watch.frames > 50", timeout=30000)
            assert echo.poll() is None
        finally:
            echo.terminate()
            output, _ = echo.communicate(timeout=15)
        assert "Left the room." in output, output
