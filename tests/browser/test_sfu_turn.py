"""SFU rooms through a TURN relay (issue 22): a real Janus and a real coturn (``use-auth-secret``, on loopback), with
the credentials the server mints. Chromium pages forced to relay only (``iceTransportPolicy: "relay"``, set by the
test on every RTCPeerConnection) and a relay-only Python peer take part in an SFU room, every connection with
Janus through coturn; a relayed SFU call outlives its credentials: each round of fresh ones moves both of a page's
connections with Janus onto a new allocation by an ICE restart (the publisher offers again, the subscriber asks
Janus for a new offer with ``sfu-restart``), and nothing stalls."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, Page

from rtcsite.servers import RELAY_ONLY_SCRIPT, WATCH_SCRIPT, JanusProcess, TurnServer, host_address, wait_for_async
from tests.browser.conftest import OpenPage, Site, join, media_paths, page_opener, peer_id, serve_site
from tests.browser.python_peer import CountingPeer, EventLoopThread
from tests.browser.test_sfu_call import RECEIVED
from tests.browser.test_turn import allocation_expiries, every_message_arrived

pytestmark = pytest.mark.sfu_media

SECRET = "sfu-turn-secret"
#: Credentials live 20 s (fresh ones every 10 s); coturn's permissions, channels and allocations 30 s.
TTL, LIFETIME = 20, 30


@pytest.fixture(scope="module")
def turn() -> Iterator[TurnServer]:
    """coturn where Janus has its candidates: it relays to Janus as one in production does to Janus's address."""
    with TurnServer(SECRET, lifetime=LIFETIME, address=host_address()) as server:
        yield server


@pytest.fixture(scope="module")
def relay_sfu_site(janus: JanusProcess, turn: TurnServer, sfu_site_port: int) -> Iterator[Site]:
    """The site with SFU rooms through the module's Janus, and TURN credentials for the module's coturn."""
    settings = {
        "SFU_JANUS_URL": janus.url,
        "SFU_API_SECRET": janus.api_secret,
        "SFU_ADMIN_KEY": janus.admin_key,
        "SFU_EVENTS_SECRET": janus.events_secret,
        "TURN_SECRET": SECRET,
        "TURN_URLS": turn.urls("udp", "tcp"),
        "TURN_CREDENTIAL_TTL": TTL,
    }
    with serve_site({"SIGNALING_SETTINGS": json.dumps(settings)}, port=sfu_site_port) as site:
        yield site


@pytest.fixture
def open_relay_page(browser: Browser, relay_sfu_site: Site, request: pytest.FixtureRequest) -> Iterator[OpenPage]:
    yield from page_opener(browser, relay_sfu_site.url, request, init_script=RELAY_ONLY_SCRIPT)


def sfu_local_candidates(page: Page) -> dict[str, str]:
    """The type of the local candidate each of the page's connections with the SFU uses (``relay``, ``host``...)."""
    found: dict[str, str] = page.evaluate(
        """async () => {
          const types = {};
          for (const name of ['publisher', 'subscriber']) {
            const stats = await window.call.sfu[name].getStats();
            const transport = [...stats.values()].find((r) => r.type === 'transport' && r.selectedCandidatePairId);
            const pair = transport && stats.get(transport.selectedCandidatePairId);
            types[name] = pair ? stats.get(pair.localCandidateId)?.candidateType ?? '' : '';
          }
          return types;
        }"""
    )
    return found


def decodes(page: Page, remote: str, frames: int = 10) -> None:
    """Wait until ``page`` has decoded ``frames`` frames of ``remote``'s video on its subscribing connection."""
    received = f"async ([peer, frames]) => ((await ({RECEIVED})())[`${{peer}} video`] ?? 0) >= frames"
    wait_for_async(page, received, [remote, frames])


def relayed_page_and_python_peer(
    open_relay_page: OpenPage, site: Site, room_id: str, peer_loop: EventLoopThread
) -> tuple[Page, CountingPeer]:
    """A relay-only page and a relay-only Python peer in a new SFU room of ``site``."""
    site.create_room(room_id, max_peers=4, topology="sfu")
    page = open_relay_page(f"/call/{room_id}/")
    join(page)
    page.wait_for_function("window.call.peerId !== null && window.call.sfu !== null")
    url = site.daphne.ws_url + "/api/call/signal"
    python = peer_loop.run(CountingPeer.make(url, room_id, 90, ice_transport_policy="relay"))
    peer_loop.run(python.call.connect())
    return page, python


def test_a_relay_only_sfu_call_between_a_browser_and_the_python_peer(
    janus: JanusProcess,
    open_relay_page: OpenPage,
    relay_sfu_site: Site,
    turn: TurnServer,
    room_id: str,
    peer_loop: EventLoopThread,
) -> None:
    page, python = relayed_page_and_python_peer(open_relay_page, relay_sfu_site, room_id, peer_loop)
    page_id, python_id = peer_id(page), python.peer_id

    # Media both ways, through Janus and the relay.
    decodes(page, python_id)
    peer_loop.run(until(lambda: python.video.get(page_id, 0) >= 10), 35)
    # Both of the page's connections with Janus relay, and its quality summary says so.
    wait_for_async(
        page, "async (id) => (await window.call.getQualitySummary(id))?.candidatePair?.usingRelay === true", python_id
    )
    assert sfu_local_candidates(page) == {"publisher": "relay", "subscriber": "relay"}
    # coturn allocated for each of them, with the credentials this server minted for each.
    for peer in (page_id, python_id):
        turn.wait_for_log(f":{peer}>", "ALLOCATE processed, success")
    # The page told the server, and the log has it.
    assert media_paths(relay_sfu_site, page_id) == {page_id: "relay"}
    peer_loop.run(python.call.hangup())


async def until(condition: Callable[[], bool], timeout: float = 30) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)


@pytest.mark.soak
def test_a_relayed_sfu_call_outlives_its_credentials(
    open_relay_page: OpenPage, relay_sfu_site: Site, turn: TurnServer, room_id: str
) -> None:
    relay_sfu_site.create_room(room_id, max_peers=4, topology="sfu")
    alice, bob = open_relay_page(f"/call/{room_id}/"), open_relay_page(f"/call/{room_id}/")
    for page in (alice, bob):
        join(page)
        page.wait_for_function("window.call.peerId !== null && window.call.sfu !== null")
    a, b = peer_id(alice), peer_id(bob)
    decodes(alice, b)
    decodes(bob, a)
    for page, other in ((alice, b), (bob, a)):
        page.evaluate(WATCH_SCRIPT, other)
    # 46 s: more than two credential lifetimes and past coturn's 30 s lifetimes of the first allocations.
    alice.wait_for_timeout(46_000)
    every_message_arrived(alice, bob, at_least=200)
    for page in (alice, bob):
        watch = page.evaluate("window.watch")
        # The video never stood still for over 1 s, through every move onto fresh credentials.
        assert watch["stalls"]["frames"] <= 1000, watch
        assert watch["frames"] > 46 * 10, watch
        assert watch["left"] == [], watch
        assert page.evaluate("window.call.getSnapshot().reconnectAttempt") == 0
        assert page.evaluate("window.call.state") == "connected"
        assert sfu_local_candidates(page) == {"publisher": "relay", "subscriber": "relay"}
        # Each round of fresh credentials restarted ICE on both connections with Janus.
        assert watch["restarts"] >= 6, watch
    # coturn allocated with the refreshed credentials: later expiries than the first ones.
    for peer in (a, b):
        assert len(allocation_expiries(turn, peer)) >= 3


@pytest.mark.soak
def test_a_relay_only_python_peer_in_an_sfu_room_outlives_its_credentials(
    open_relay_page: OpenPage, relay_sfu_site: Site, turn: TurnServer, room_id: str, peer_loop: EventLoopThread
) -> None:
    """aiortc cannot restart ICE: each round of fresh credentials moves both of the Python peer's connections with
    Janus to new ones (a fresh publisher replaces the published one, a fresh subscriber takes Janus's offer of a
    new handle). Its video to the page and the page's to it go on, with a switch of a moment each round."""
    page, python = relayed_page_and_python_peer(open_relay_page, relay_sfu_site, room_id, peer_loop)
    page_id, python_id = peer_id(page), python.peer_id
    decodes(page, python_id)
    peer_loop.run(until(lambda: python.video.get(page_id, 0) >= 10), 35)

    async def longest_gap(seconds: float) -> float:
        """The longest time the Python peer received no frame of the page's video, over ``seconds``."""
        loop = asyncio.get_running_loop()
        end, last, since, longest = loop.time() + seconds, python.video.get(page_id, 0), loop.time(), 0.0
        while loop.time() < end:
            await asyncio.sleep(0.1)
            count = python.video.get(page_id, 0)
            if count != last:
                last, since = count, loop.time()
            longest = max(longest, loop.time() - since)
        return longest

    # 40 s: past the first credentials' expiry (20 s) and the first allocations' lifetime (30 s), with three rounds
    # of fresh ones.
    gap = peer_loop.run(longest_gap(40), timeout=55)
    print(f"longest gap in the page's video at the Python peer: {gap:.2f} s")
    assert gap < 3, gap
    # The page goes on decoding the Python peer's video, from its fresh publisher.
    decodes(page, python_id)
    assert sfu_local_candidates(page) == {"publisher": "relay", "subscriber": "relay"}
    # coturn allocated with the refreshed credentials: the first ones, and one per round.
    assert len(allocation_expiries(turn, python_id)) >= 3
    assert page.evaluate("window.call.remotePeerIds") == [python_id]
    peer_loop.run(python.call.hangup())
