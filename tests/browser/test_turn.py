"""Calls through a real coturn (``use-auth-secret``, on loopback), with the credentials the server mints: pages
forced to relay only (``iceTransportPolicy: "relay"``, set by the test on every RTCPeerConnection), a call that
outlives its credentials several times over, the same with the Python peer."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, Page

from rtcsite.servers import RELAY_ONLY_SCRIPT, WATCH_SCRIPT, TurnServer
from signaling.peer import GeneratedVideoTrack, WebRTCCall
from tests.browser.conftest import (
    Site,
    join,
    media_paths,
    page_opener,
    peer_id,
    record_messages,
    serve_site,
    wait_connected,
)
from tests.browser.python_peer import EventLoopThread, pattern

SECRET = "browser-turn-secret"
#: Credentials live 20 s; coturn's permissions, channels and allocations 30 s: a call of 75 s and more needs
#: several rounds of fresh credentials, and every refresh its TURN client makes must carry valid ones.
TTL, LIFETIME = 20, 30


@pytest.fixture(scope="module")
def browser(browser_trusting_test_certificates: Browser) -> Browser:
    return browser_trusting_test_certificates


@pytest.fixture(scope="module")
def turn() -> Iterator[TurnServer]:
    with TurnServer(SECRET, lifetime=LIFETIME) as server:
        yield server


@pytest.fixture(scope="module")
def relay_site(turn: TurnServer) -> Iterator[Site]:
    settings = {"TURN_SECRET": SECRET, "TURN_URLS": turn.urls("udp", "tcp"), "TURN_CREDENTIAL_TTL": TTL}
    with serve_site({"SIGNALING_SETTINGS": json.dumps(settings)}) as site:
        yield site


OpenRelayPage = Callable[[str], Page]


@pytest.fixture
def open_relay_page(browser: Browser, relay_site: Site, request: pytest.FixtureRequest) -> Iterator[OpenRelayPage]:
    yield from relay_pages(browser, relay_site, request)


def relay_pages(browser: Browser, site: Site, request: pytest.FixtureRequest) -> Iterator[OpenRelayPage]:
    """Opens pages of ``site`` whose every RTCPeerConnection relays only; closes them at the end."""
    yield from page_opener(browser, site.url, request, init_script=RELAY_ONLY_SCRIPT)


@pytest.fixture(scope="module")
def udp_blocked_turn() -> Iterator[TurnServer]:
    """A coturn whose UDP listener is off (as a network that drops UDP looks to the client), with TLS."""
    with TurnServer(SECRET, udp=False, tls=True) as server:
        yield server


@pytest.mark.parametrize("transport", ["tcp", "tls"])
def test_with_udp_blocked_a_relay_only_call_connects_over_tcp_or_tls(
    browser: Browser, udp_blocked_turn: TurnServer, request: pytest.FixtureRequest, room_id: str, transport: str
) -> None:
    # The site offers UDP first, as sites do; only `transport` answers.
    settings = {"TURN_SECRET": SECRET, "TURN_URLS": udp_blocked_turn.urls("udp", transport)}
    with serve_site({"SIGNALING_SETTINGS": json.dumps(settings)}) as site:
        open_ = relay_pages(browser, site, request)
        alice, bob, a, b = relayed_pair(next(open_), f"/chat/{room_id}/")
        for page, other in ((alice, b), (bob, a)):
            path = page.evaluate("(id) => window.call.getQualitySummary(id)", other)["candidatePair"]
            assert path["usingRelay"] is True, path
            assert path["localCandidateType"] == "relay", path
            assert path["relayProtocol"] == transport, path
        record_messages(bob)
        alice.evaluate(f"window.call.sendStringTo({b!r}, 'chat', 'over {transport}')")
        bob.wait_for_function(f"window.received.some(([, , data]) => data === 'over {transport}')")
        next(open_, None)  # closes the pages


def relayed_pair(open_relay_page: OpenRelayPage, path: str) -> tuple[Page, Page, str, str]:
    pages = open_relay_page(path), open_relay_page(path)
    for page in pages:
        page.click("#join")
    wait_connected(*pages)
    return pages[0], pages[1], peer_id(pages[0]), peer_id(pages[1])


def using_relay(page: Page, remote: str) -> bool:
    summary = page.evaluate("(id) => window.call.getQualitySummary(id)", remote)
    return bool(summary["candidatePair"]["usingRelay"])


def test_a_relay_only_call_between_two_browsers(
    open_relay_page: OpenRelayPage, turn: TurnServer, relay_site: Site, room_id: str
) -> None:
    alice, bob, a, b = relayed_pair(open_relay_page, f"/call/{room_id}/")
    assert using_relay(alice, b)
    assert using_relay(bob, a)
    # Each client told the server: the log says both sessions' media went through the relay.
    assert media_paths(relay_site, a, b) == {a: "relay", b: "relay"}
    # coturn allocated for each page, with the credentials this server minted for it.
    for peer in (a, b):
        turn.wait_for_log(f":{peer}>", "ALLOCATE processed, success")
    # Video and data both ways, through the relay.
    for page, other in ((alice, b), (bob, a)):
        page.wait_for_function(
            "(peer) => { const v = document.querySelector(`figure[data-peer='${peer}'] video`);"
            " return v && v.videoWidth > 0 && v.currentTime > 0.3; }",
            arg=other,
        )
    record_messages(bob)
    alice.evaluate(f"window.call.sendStringTo({b!r}, 'chat', 'through the relay')")
    bob.wait_for_function("window.received.some(([, , data]) => data === 'through the relay')")


@pytest.mark.soak
def test_a_relayed_call_outlives_its_credentials(
    open_relay_page: OpenRelayPage, turn: TurnServer, room_id: str
) -> None:
    alice, bob, a, b = relayed_pair(open_relay_page, f"/call/{room_id}/")
    for page, other in ((alice, b), (bob, a)):
        page.evaluate(WATCH_SCRIPT, other)
    # 76 s: nearly four credential lifetimes, more than two of coturn's permission and allocation lifetimes.
    alice.wait_for_timeout(76_000)
    every_message_arrived(alice, bob, at_least=360)
    for page, other in ((alice, b), (bob, a)):
        watch = page.evaluate("window.watch")
        # Neither count ever stood still for over 1 s.
        assert watch["stalls"]["messages"] <= 1000, watch
        assert watch["stalls"]["frames"] <= 1000, watch
        assert watch["frames"] > 76 * 10, watch
        assert watch["left"] == [], watch
        assert page.evaluate("window.call.getSnapshot().reconnectAttempt") == 0
        assert page.evaluate("window.call.state") == "connected"
        assert using_relay(page, other)
        # It moved onto fresh credentials: ICE restarts with no failed path among them.
        assert watch["restarts"] >= 3, watch
    # coturn saw the refreshed credentials: allocations for later expiries than the first.
    assert len(allocation_expiries(turn, a)) >= 3


def every_message_arrived(alice: Page, bob: Page, at_least: int) -> None:
    """Stop both pages' senders (WATCH_SCRIPT) and wait until each received every message the other sent (one
    every 200 ms), of which there were ``at_least``."""
    for page in (alice, bob):
        page.evaluate("() => { window.stopping = true; clearInterval(window.sender); }")
    for sender, receiver in ((alice, bob), (bob, alice)):
        sent = sender.evaluate("window.sent")
        assert sent >= at_least
        receiver.wait_for_function("(n) => window.watch.messages === n", arg=sent)


def allocation_expiries(turn: TurnServer, peer: str) -> set[str]:
    """The expiries of the credentials coturn allocated for ``peer`` with (one per round of fresh ones)."""
    return {
        line.split("user <")[1].split(":")[0]
        for line in turn.log().splitlines()
        if f":{peer}>" in line and "ALLOCATE processed, success" in line
    }


@pytest.mark.soak
def test_a_relay_only_call_with_the_python_peer_outlives_its_credentials(
    open_relay_page: OpenRelayPage, turn: TurnServer, relay_site: Site, room_id: str, peer_loop: EventLoopThread
) -> None:
    page = open_relay_page(f"/call/{room_id}/")
    join(page)
    page.wait_for_function("window.call.peerId !== null")
    record_messages(page)

    async def start() -> WebRTCCall:
        call = WebRTCCall(
            relay_site.daphne.ws_url + "/api/call/signal",
            room_id,
            data_channels=["chat"],
            tracks=[GeneratedVideoTrack(pattern)],
            ice_transport_policy="relay",
        )
        await call.connect()
        return call

    call = peer_loop.run(start())
    python_id = str(call.peer_id)
    page.wait_for_function("(id) => window.call.getDataChannelState(id, 'chat') === 'open'", arg=python_id)
    # Both sides relay: the page by its policy, the Python peer by its own; coturn allocated for each.
    assert using_relay(page, python_id)
    turn.wait_for_log(f":{python_id}>", "ALLOCATE processed, success")
    turn.wait_for_log(f":{peer_id(page)}>", "ALLOCATE processed, success")
    page.wait_for_function(
        "(peer) => { const v = document.querySelector(`figure[data-peer='${peer}'] video`);"
        " return v && v.videoWidth > 0 && v.currentTime > 0.3; }",
        arg=python_id,
    )

    # 26 s of chat from the Python peer, one message every 200 ms: past the first credentials' expiry (20 s), with
    # two rounds of fresh ones. Each round of fresh credentials moves the Python peer's relayed path to a fresh
    # connection (aiortc cannot restart ICE): the few messages sent during a switch may be lost, the call is not.
    async def chat_for(seconds: float) -> tuple[int, float]:
        """Messages sent, and the longest time the channel was not open (a switch of connections)."""
        loop = asyncio.get_running_loop()
        sent, end, closed_since, longest = 0, loop.time() + seconds, None, 0.0
        while loop.time() < end:
            if call.send_string("chat", "tick"):
                sent += 1
                closed_since = None
            else:
                closed_since = closed_since or loop.time()
                longest = max(longest, loop.time() - closed_since)
            await asyncio.sleep(0.2)
        return sent, longest

    sent, longest_switch = peer_loop.run(chat_for(26), timeout=60)
    assert longest_switch < 5, longest_switch
    assert sent >= 80, sent
    received = page.evaluate("window.received.filter(([from, , data]) => data === 'tick').length")
    assert received >= sent * 0.9, (received, sent)
    # The last ones arrived: the path works at the end, on credentials minted long after the first expired.
    page.wait_for_function("(n) => window.received.filter(([, , data]) => data === 'tick').length >= n", arg=received)
    assert call.send_string("chat", "last") == 1
    page.wait_for_function("window.received.some(([, , data]) => data === 'last')")
    assert using_relay(page, python_id)
    assert len(allocation_expiries(turn, python_id)) >= 3  # the first, and one per round
    assert page.evaluate("window.call.state") == "connected"
    assert page.evaluate("window.call.remotePeerIds") == [python_id]
    peer_loop.run(call.hangup())
