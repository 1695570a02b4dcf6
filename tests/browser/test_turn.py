"""Calls through a real coturn (``use-auth-secret``, on loopback), with the credentials the server mints: pages
forced to relay only (``iceTransportPolicy: "relay"``, set by the test on every RTCPeerConnection), a call that
outlives its credentials several times over, a page that resumes and gets fresh ones."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, Page

from rtcsite.servers import TurnServer
from tests.browser.conftest import Site, peer_id, record_messages, serve_site, wait_connected

SECRET = "browser-turn-secret"
#: Credentials live 20 s; coturn's permissions, channels and allocations 30 s: a call of 75 s and more needs
#: several rounds of fresh credentials, and every refresh its TURN client makes must carry valid ones.
TTL, LIFETIME = 20, 30

# Every RTCPeerConnection of the page relays only, whatever it is configured with.
RELAY_ONLY = """(() => {
  const Native = window.RTCPeerConnection;
  class RelayOnly extends Native {
    constructor(config = {}) { super({ ...config, iceTransportPolicy: "relay" }); }
    setConfiguration(config = {}) { super.setConfiguration({ ...config, iceTransportPolicy: "relay" }); }
  }
  window.RTCPeerConnection = RelayOnly;
})();"""


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
    console: list[str] = []
    request.node.browser_console = console
    contexts = []

    def open_(path: str) -> Page:
        context = browser.new_context()
        context.add_init_script(RELAY_ONLY)
        contexts.append(context)
        page = context.new_page()
        name = f"page{len(contexts)}"
        page.on("console", lambda message: console.append(f"[{name}] {message.type}: {message.text}"))
        page.on("pageerror", lambda error: console.append(f"[{name}] page error: {error}"))
        page.set_default_timeout(30_000)
        page.goto(relay_site.url + path)
        return page

    yield open_
    for context in contexts:
        context.close()


def relayed_pair(open_relay_page: OpenRelayPage, path: str) -> tuple[Page, Page, str, str]:
    pages = open_relay_page(path), open_relay_page(path)
    for page in pages:
        page.click("#join")
    wait_connected(*pages)
    return pages[0], pages[1], peer_id(pages[0]), peer_id(pages[1])


def using_relay(page: Page, remote: str) -> bool:
    summary = page.evaluate("(id) => window.call.getQualitySummary(id)", remote)
    return bool(summary["candidatePair"]["usingRelay"])


def test_a_relay_only_call_between_two_browsers(open_relay_page: OpenRelayPage, turn: TurnServer,
                                                room_id: str) -> None:
    alice, bob, a, b = relayed_pair(open_relay_page, f"/call/{room_id}/")
    assert using_relay(alice, b)
    assert using_relay(bob, a)
    # coturn allocated for each page, with the credentials this server minted for it.
    for peer in (a, b):
        turn.wait_for_log(f":{peer}>", "ALLOCATE processed, success")
    # Video and data both ways, through the relay.
    for page, other in ((alice, b), (bob, a)):
        page.wait_for_function(
            "(peer) => { const v = document.querySelector(`figure[data-peer='${peer}'] video`);"
            " return v && v.videoWidth > 0 && v.currentTime > 0.3; }", arg=other)
    record_messages(bob)
    alice.evaluate(f"window.call.sendStringTo({b!r}, 'chat', 'through the relay')")
    bob.wait_for_function("window.received.some(([, , data]) => data === 'through the relay')")


# The page counts, every 100 ms, what arrives from its peer: chat messages (one sent every 200 ms by the other
# side) and decoded video frames; and the longest time either count stood still.
WATCH = """(peer) => {
  window.watch = { messages: 0, frames: 0, stalls: { messages: 0, frames: 0 }, last: {}, restarts: 0, left: [] };
  const callbacks = window.call.options.callbacks ?? {};
  window.call.setOptions({ ...window.call.options, callbacks: { ...callbacks,
    onDataChannelMessage: (from, label, data) => { if (label === 'chat') window.watch.messages += 1;
                                                    callbacks.onDataChannelMessage?.(from, label, data); },
    onIceRestart: (id) => { window.watch.restarts += 1; callbacks.onIceRestart?.(id); },
    onPeerLeft: (id, reason) => { window.watch.left.push(id); callbacks.onPeerLeft?.(id, reason); },
  } });
  const since = { messages: performance.now(), frames: performance.now() };
  const seen = { messages: 0, frames: 0 };
  window.watchTimer = setInterval(async () => {
    const stats = await window.call.links.get(peer).pc.getStats();
    for (const r of stats.values()) {
      if (r.type === 'inbound-rtp' && r.kind === 'video') window.watch.frames = r.framesDecoded;
    }
    const now = performance.now();
    for (const key of ['messages', 'frames']) {
      if (window.watch[key] !== seen[key]) { seen[key] = window.watch[key]; since[key] = now; }
      // Ignored until the first arrival, and at the end (the sender stops first).
      if (seen[key] > 0 && !window.stopping) {
        window.watch.stalls[key] = Math.max(window.watch.stalls[key], now - since[key]);
      }
    }
  }, 100);
  window.sent = 0;
  window.sender = setInterval(() => { if (window.call.sendStringTo(peer, 'chat', 'tick')) window.sent += 1; }, 200);
}"""


def test_a_relayed_call_outlives_its_credentials(open_relay_page: OpenRelayPage, turn: TurnServer,
                                                 room_id: str) -> None:
    alice, bob, a, b = relayed_pair(open_relay_page, f"/call/{room_id}/")
    for page, other in ((alice, b), (bob, a)):
        page.evaluate(WATCH, other)
    # 80 s: four credential lifetimes, more than two of coturn's permission and allocation lifetimes.
    alice.wait_for_timeout(80_000)
    for page in (alice, bob):
        page.evaluate("() => { window.stopping = true; clearInterval(window.sender); }")
    for sender, receiver in ((alice, bob), (bob, alice)):
        # Every message sent (one every 200 ms) arrives.
        sent = sender.evaluate("window.sent")
        assert sent >= 380
        receiver.wait_for_function("(n) => window.watch.messages === n", arg=sent)
    for page, other in ((alice, b), (bob, a)):
        watch = page.evaluate("window.watch")
        # Neither count ever stood still for over 1 s.
        assert watch["stalls"]["messages"] <= 1000, watch
        assert watch["stalls"]["frames"] <= 1000, watch
        assert watch["frames"] > 80 * 10, watch
        assert watch["left"] == [], watch
        assert page.evaluate("window.call.getSnapshot().reconnectAttempt") == 0
        assert page.evaluate("window.call.state") == "connected"
        assert using_relay(page, other)
        # It moved onto fresh credentials: ICE restarts with no failed path among them.
        assert watch["restarts"] >= 3, watch
    # coturn saw the refreshed credentials: allocations for later expiries than the first.
    expiries = {line.split("user <")[1].split(":")[0] for line in turn.log().splitlines()
                if f":{a}>" in line and "ALLOCATE processed, success" in line}
    assert len(expiries) >= 3, expiries
