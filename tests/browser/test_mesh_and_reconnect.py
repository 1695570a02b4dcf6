"""Mesh calls, refused joins, and the signaling socket dropping under a live call."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page

from rtcsite.servers import TcpProxy
from tests.browser.conftest import OpenPage, Site, join, peer_id, record_messages, wait_connected

# Lifecycle callbacks of the page's call, kept in window.events as short strings.
RECORD_EVENTS = """() => {
  window.events = [];
  const callbacks = window.call.options.callbacks ?? {};
  const log = (name, ...args) => window.events.push([name, ...args].join(':'));
  window.call.setOptions({ ...window.call.options, callbacks: { ...callbacks,
    onReconnecting: (attempt) => log('reconnecting', attempt),
    onReconnected: () => log('reconnected'),
    onReconnectFailed: () => log('failed'),
    onPeerLeft: (peer, reason) => { log('left', peer, reason); callbacks.onPeerLeft?.(peer, reason); },
    onPeerJoined: (peer) => { log('joined', peer); callbacks.onPeerJoined?.(peer); },
  } });
}"""


@pytest.fixture
def proxy(site: Site) -> Iterator[TcpProxy]:
    relay = TcpProxy(site.daphne.port)
    yield relay
    relay.close()


def test_three_pages_in_a_room_of_three_all_connect(open_page: OpenPage, site: Site, room_id: str) -> None:
    site.create_room(room_id, max_peers=3)
    pages = [open_page(f"/call/{room_id}/") for _ in range(3)]
    for page in pages:
        join(page)
    wait_connected(*pages, peers=2)
    ids = [peer_id(page) for page in pages]
    for page, me in zip(pages, ids, strict=True):
        assert page.evaluate("window.call.getSnapshot().maxPeers") == 3
        assert sorted(page.evaluate("window.call.remotePeerIds")) == sorted(set(ids) - {me})
        for other in set(ids) - {me}:
            page.wait_for_function(
                "(peer) => { const v = document.querySelector(`figure[data-peer='${peer}'] video`);"
                " return v && v.videoWidth > 0 && v.currentTime > 0.3; }",
                arg=other,
            )

    # A fourth is refused: the call ends with the server's reason, and does not retry.
    fourth = open_page(f"/call/{room_id}/")
    join(fourth)
    fourth.wait_for_function("window.call.state === 'idle' && window.call.getSnapshot().error !== null")
    error = fourth.evaluate("({code: window.call.error.code, message: window.call.error.message})")
    assert error == {"code": "room-full", "message": "Room is full (max 3 peers)"}
    fourth.clock.install()
    fourth.clock.fast_forward(60_000)  # no retry comes, however long one waits
    assert fourth.evaluate("window.call.state") == "idle"
    assert fourth.evaluate("window.call.connection") is None
    # The page says it in words, and keeps saying it until dismissed.
    alert = fourth.locator("#alerts .alert")
    assert alert.inner_text().startswith("This room is full.")
    assert "Error" not in alert.inner_text()

    # One hangs up: the other two stay connected to each other.
    pages[2].click("#hangup")
    wait_connected(pages[0], pages[1], peers=1)
    assert pages[2].evaluate("window.call.state") == "idle"
    assert pages[2].evaluate("window.call.getSnapshot().localStream") is None


def test_forced_signaling_drop_reconnects_and_resumes(open_page: OpenPage, proxy: TcpProxy, room_id: str) -> None:
    alice = open_page(f"{proxy.http_url}/chat/{room_id}/")
    bob = open_page(f"{proxy.http_url}/chat/{room_id}/")
    for page in (alice, bob):
        page.evaluate(RECORD_EVENTS)
        join(page)
    wait_connected(alice, bob)
    a, b = peer_id(alice), peer_id(bob)
    for page in (alice, bob):
        page.evaluate("() => { window.connectionBefore = window.call.links.values().next().value.pc; }")
        page.wait_for_function("window.events.some((e) => e.startsWith('joined:'))")

    # Every connection through the proxy is reset, as when the network path breaks.
    assert proxy.cut() >= 4
    for page in (alice, bob):
        page.wait_for_function("window.events.includes('reconnected')")
    for page, me, other in ((alice, a, b), (bob, b, a)):
        events = page.evaluate("window.events")
        assert events == [f"joined:{other}", "reconnecting:1", "reconnected"], events
        # The same peer ids, the same peer connection: the others never saw us leave.
        assert peer_id(page) == me
        assert page.evaluate("window.call.remotePeerIds") == [other]
        assert page.evaluate("window.call.links.values().next().value.pc === window.connectionBefore")
        assert page.evaluate("window.call.getSnapshot().reconnectAttempt") == 0

    # Data flows, and so does signaling: an ICE restart needs an offer and an answer through the server.
    record_messages(bob)
    alice.evaluate("window.call.sendString('chat', 'after the drop')")
    bob.wait_for_function("window.received.length === 1")
    sdp = "() => window.call.links.values().next().value.pc.remoteDescription.sdp"
    before = bob.evaluate(sdp)
    alice.evaluate(f"window.call.links.get({b!r}).restartIce()")
    bob.wait_for_function(f"() => ({sdp})() !== {before!r}")
    wait_connected(alice, bob)


def test_reconnecting_gives_up_after_max_attempts(open_page: OpenPage, proxy: TcpProxy, room_id: str) -> None:
    page = open_page(f"{proxy.http_url}/chat/{room_id}/")
    page.evaluate(RECORD_EVENTS)
    page.evaluate("window.call.setOptions({ ...window.call.options, maxReconnectAttempts: 3 })")
    join(page)
    page.wait_for_function("window.call.state === 'signaling'")
    proxy.refuse()
    proxy.cut()
    # Attempts count across the outage (each new socket fails at once): 1, 2, 3, then it gives up.
    page.wait_for_function("window.events.includes('failed')", timeout=15000)
    assert page.evaluate("window.events") == ["reconnecting:1", "reconnecting:2", "reconnecting:3", "failed"]
    assert page.evaluate("window.call.state") == "idle"
    assert page.evaluate("window.call.error.code") == "reconnect-failed"

    # Once the server can be reached again, joining works as before.
    proxy.allow()
    page.click("#join")
    page.wait_for_function("window.call.state === 'signaling'")
    assert page.evaluate("window.call.error") is None


def backoff(page: Page, script: str) -> object:
    return page.evaluate(f"import('/static/frontend/webrtc/backoff.js').then(({{ reconnectDelay }}) => {script})")


def test_reconnect_delays_grow_with_jitter_up_to_a_cap(open_page: OpenPage) -> None:
    page = open_page("/")
    assert backoff(page, "[1, 2, 3, 4, 5, 6, 7].map((n) => reconnectDelay(n, { random: () => 0 }))") == [
        250,
        500,
        1000,
        2000,
        4000,
        7500,
        7500,
    ]
    assert backoff(page, "[1, 2, 6, 7].map((n) => reconnectDelay(n, { random: () => 0.999999 }))") == pytest.approx(
        [500, 1000, 15000, 15000], abs=0.1
    )
    spread = backoff(page, "Array.from({ length: 200 }, () => reconnectDelay(3))")
    assert isinstance(spread, list)
    assert all(1000 <= delay <= 2000 for delay in spread)
    assert len(set(spread)) > 150
    assert backoff(page, "(() => { try { reconnectDelay(0); } catch (e) { return e.name; } })()") == "RangeError"


def test_kicked_page_ends_its_call_and_does_not_come_back(open_page: OpenPage, site: Site, room_id: str) -> None:
    alice, bob = open_page(f"/chat/{room_id}/"), open_page(f"/chat/{room_id}/")
    for page in (alice, bob):
        page.evaluate(RECORD_EVENTS)
        join(page)
    wait_connected(alice, bob)
    b = peer_id(bob)
    site.create_superuser("kicker", "kicker-password")
    site.kick(room_id, b, ("kicker", "kicker-password"))
    bob.wait_for_function("window.call.state === 'idle'")
    assert bob.evaluate("[window.call.error.code, window.call.error.message]") == [
        "kicked",
        "The signaling server ended the call (kicked, close code 4010)",
    ]
    alice.wait_for_function("window.events.some((e) => e.startsWith('left:'))")
    assert alice.evaluate("window.events.filter((e) => e.startsWith('left:'))") == [f"left:{b}:kicked"]
    # Kicked is final: no reconnection, no new join, however long one waits (Playwright's clock: a minute on).
    bob.clock.install()
    bob.clock.fast_forward(60_000)
    assert bob.evaluate("window.events.filter((e) => e.startsWith('reconnecting'))") == []
    assert alice.evaluate("window.call.remotePeerIds") == []
    assert alice.evaluate("window.call.state") == "signaling"
