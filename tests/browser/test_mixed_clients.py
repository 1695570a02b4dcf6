"""A client written for the seed's server (tests/browser/static/seed_client.js: the seed client's politeness rule,
hang-up without a close code, core protocol only) and this project's client in one room."""

from __future__ import annotations

import time

from playwright.sync_api import Page

from tests.browser.conftest import OpenPage, join, record_messages


def seed_page(open_page: OpenPage, room_id: str) -> Page:
    page = open_page(f"/static/seed_client.html?room={room_id}")
    page.wait_for_function("window.seed && window.seed.myId !== null")
    return page


def wait_mixed_connected(ours: Page, seed: Page, seed_id: str) -> None:
    ours.wait_for_function(
        "(id) => window.call.state === 'connected' && window.call.links.get(id)?.isConnected", arg=seed_id
    )
    seed.wait_for_function("() => [...window.seed.peers.values()].some((p) => p.pc.connectionState === 'connected')")


def test_glare_settles_in_a_mixed_pair_and_the_seed_hangup_is_a_departure(open_page: OpenPage, room_id: str) -> None:
    ours = open_page(f"/chat/{room_id}/")
    join(ours)
    ours.wait_for_function("window.call.peerId !== null")
    seed = seed_page(open_page, room_id)
    seed_id = seed.evaluate("window.seed.myId")
    wait_mixed_connected(ours, seed, seed_id)
    # Exactly one of the two yields, whichever id is the greater.
    our_polite = ours.evaluate(f"window.call.links.get({seed_id!r}).polite")
    assert seed.evaluate("[...window.seed.peers.values()][0].polite") is (not our_polite)

    # Both sides renegotiate in the same instant: an audio transceiver each, so both make an offer.
    ours.evaluate(f"() => {{ window.glare = () => window.call.links.get({seed_id!r}).pc.addTransceiver('audio'); }}")
    seed.evaluate("() => { window.glare = () => [...window.seed.peers.values()][0].pc.addTransceiver('audio'); }")
    ours.evaluate("setTimeout(window.glare, 0)")
    seed.evaluate("window.glare()")
    settled = """(pc) => pc.signalingState === 'stable' && pc.getTransceivers().length >= 2
                   && pc.getTransceivers().every((t) => t.mid !== null)"""
    ours.wait_for_function(f"() => ({settled})(window.call.links.get({seed_id!r}).pc)")
    seed.wait_for_function(f"() => ({settled})([...window.seed.peers.values()][0].pc)")
    assert seed.evaluate("window.seed.errors") == []

    # Data still flows both ways on the seed's channel.
    record_messages(ours)
    seed.wait_for_function("[...window.seed.peers.values()][0].channels.get('chat')?.readyState === 'open'")
    seed.evaluate("[...window.seed.peers.values()][0].channels.get('chat').send('from the seed client')")
    ours.wait_for_function("window.received.some(([, , data]) => data === 'from the seed client')")
    ours.evaluate(f"window.call.sendStringTo({seed_id!r}, 'chat', 'from ours')")
    seed.wait_for_function("window.seed.received.some(([, , data]) => data === 'from ours')")

    # The seed's hangup is ws.close() with no code: a departure, seen at once, not after the resume grace.
    started = time.monotonic()
    seed.evaluate("window.seed.hangup()")
    ours.wait_for_function(f"!window.call.remotePeerIds.includes({seed_id!r})", timeout=5000)
    assert time.monotonic() - started < 5
