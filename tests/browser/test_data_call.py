"""Data-only calls in Chromium: the chat demo page, data channels both ways, negotiation under glare."""

from __future__ import annotations

from playwright.sync_api import Page

from tests.browser.conftest import OpenPage, connected_pair, join, peer_id, record_messages, wait_connected


def wait_channel_open(page: Page, remote: str, label: str) -> None:
    page.wait_for_function(
        "([remote, label]) => window.call.getDataChannelState(remote, label) === 'open'", arg=[remote, label]
    )


def test_data_only_call_exchanges_string_json_and_binary_both_ways(open_page: OpenPage, room_id: str) -> None:
    alice, bob, a, b = connected_pair(open_page, f"/chat/{room_id}/")
    for page, remote in ((alice, b), (bob, a)):
        wait_channel_open(page, remote, "chat")
        wait_channel_open(page, remote, "file")
        # Data only: no camera or microphone was asked for.
        assert page.evaluate("window.call.isDataOnly && window.call.getSnapshot().localStream === null")
        assert sorted(page.evaluate("window.call.getDataChannelLabels()")) == ["chat", "file"]
    record_messages(alice)
    record_messages(bob)

    assert alice.evaluate("window.call.sendString('chat', 'hello bob')") == 1
    assert alice.evaluate("window.call.sendJSON('chat', {x: 100, y: [1, 2], s: 'é'})") == 1
    assert alice.evaluate("window.call.sendBinary('file', new Uint8Array([0, 1, 2, 254, 255]))") == 1
    assert bob.evaluate(f"window.call.sendStringTo({a!r}, 'chat', 'hello alice')") is True
    assert bob.evaluate(f"window.call.sendJSONTo({a!r}, 'chat', {{ok: true}})") is True
    assert bob.evaluate(f"window.call.sendBinaryTo({a!r}, 'file', new Uint8Array(70000).fill(7).buffer)") is True
    # To somebody who is not a peer: nothing is sent.
    assert bob.evaluate("window.call.sendStringTo('nobody', 'chat', 'lost')") is False

    bob.wait_for_function("window.received.length === 3")
    alice.wait_for_function("window.received.length === 3")
    assert bob.evaluate("window.received") == [
        [a, "chat", "hello bob"],
        [a, "chat", '{"x":100,"y":[1,2],"s":"é"}'],
        [a, "file", [0, 1, 2, 254, 255]],
    ]
    got = alice.evaluate("window.received")
    assert got[:2] == [[b, "chat", "hello alice"], [b, "chat", '{"ok":true}']]
    assert got[2][:2] == [b, "file"]
    assert got[2][2] == [7] * 70000

    # The page's own chat form goes over the same channel.
    alice.fill("#message", "typed by a person")
    alice.click("#send")
    bob.locator("#messages li", has_text="typed by a person").wait_for()


def test_channel_created_after_connect_reaches_the_peer_and_closes(open_page: OpenPage, room_id: str) -> None:
    alice, bob, a, b = connected_pair(open_page, f"/chat/{room_id}/")
    record_messages(bob)
    alice.evaluate("window.call.createDataChannel({label: 'extra', ordered: false})")
    wait_channel_open(alice, b, "extra")
    wait_channel_open(bob, a, "extra")
    assert "extra" in bob.evaluate("window.call.getDataChannelLabels()")
    alice.evaluate("window.call.sendString('extra', 'via extra')")
    bob.wait_for_function("window.received.some(([, label, data]) => label === 'extra' && data === 'via extra')")

    assert alice.evaluate("window.call.closeDataChannel('extra')") is True
    bob.wait_for_function(f"window.call.getDataChannelState({a!r}, 'extra') === null")
    assert alice.evaluate(f"window.call.getDataChannelState({b!r}, 'extra')") is None
    assert alice.evaluate("window.call.sendString('extra', 'too late')") == 0
    assert alice.evaluate("window.call.closeDataChannel('never-opened')") is False


def test_simultaneous_offers_do_not_wedge_the_call(open_page: OpenPage, room_id: str) -> None:
    # Both sides add an audio transceiver in the same instant (data channels alone would reuse the SCTP
    # association and need no offer): both make an offer, perfect negotiation settles it.
    alice, bob, _, b = connected_pair(open_page, f"/chat/{room_id}/")
    add_audio = "() => window.call.links.values().next().value.pc.addTransceiver('audio')"
    for page in (alice, bob):
        page.evaluate(f"() => {{ window.glare = {add_audio}; }}")
    alice.evaluate("setTimeout(window.glare, 0)")
    bob.evaluate("window.glare()")
    for page in (alice, bob):
        page.wait_for_function(
            """() => { const pc = window.call.links.values().next().value.pc;
                       return pc.signalingState === 'stable' && pc.getTransceivers().length === 2
                         && pc.getTransceivers().every((t) => t.mid !== null); }"""
        )
    wait_connected(alice, bob)
    record_messages(alice)
    bob.evaluate("window.call.sendString('chat', 'still talking')")
    alice.wait_for_function("window.received.length === 1")
    assert alice.evaluate("window.received") == [[b, "chat", "still talking"]]


def test_restarting_ice_with_one_peer_keeps_the_call(open_page: OpenPage, room_id: str) -> None:
    alice, bob, _, b = connected_pair(open_page, f"/chat/{room_id}/")
    ufrag = "(page) => window.call.links.values().next().value.pc.localDescription.sdp.match(/a=ice-ufrag:(\\S+)/)[1]"
    before = alice.evaluate(f"({ufrag})()")
    alice.evaluate(
        """() => { window.restarts = []; const callbacks = window.call.options.callbacks ?? {};
                   window.call.setOptions({ ...window.call.options,
                     callbacks: { ...callbacks, onIceRestart: (peer) => window.restarts.push(peer) } }); }"""
    )
    alice.evaluate(f"window.call.links.get({b!r}).restartIce()")
    alice.wait_for_function(f"() => ({ufrag})() !== {before!r}")
    assert alice.evaluate("window.restarts") == [b]
    wait_connected(alice, bob)
    record_messages(bob)
    alice.evaluate("window.call.sendString('chat', 'after restart')")
    bob.wait_for_function("window.received.length === 1")


def test_channels_only_the_earlier_peer_configured_are_opened_too(open_page: OpenPage, room_id: str) -> None:
    # The chat page configures "chat" and "file"; a later page configures "chat" only. It offers, so it opens
    # "chat"; the chat page opens "file" from its side once connected.
    alice = open_page(f"/chat/{room_id}/")
    join(alice)
    alice.wait_for_function("window.call.state === 'signaling'")
    bob = open_page("/")
    bob.evaluate(
        """async (room) => { const m = await import('/static/frontend/webrtc/index.js');
             window.call = new m.WebRTCCall({ roomId: room, signalUrl: '/api/call/signal', media: false,
                                              dataChannels: [{ label: 'chat' }] }); }""",
        room_id,
    )
    wait_connected(alice, bob)
    a = peer_id(alice)
    wait_channel_open(bob, a, "file")
    assert sorted(bob.evaluate("window.call.getDataChannelLabels()")) == ["chat", "file"]
    record_messages(bob)
    alice.evaluate("window.call.sendBinary('file', new Uint8Array([9, 8, 7]))")
    bob.wait_for_function("window.received.length === 1")
    assert bob.evaluate("window.received") == [[a, "file", [9, 8, 7]]]


# Makes the page's link with `peer` report `state` (the browser cannot be made to lose a loopback path here).
FAKE_STATE = """([peer, state]) => {
  const pc = window.call.links.get(peer).pc;
  Object.defineProperty(pc, 'connectionState', { configurable: true, get: () => state });
  pc.dispatchEvent(new Event('connectionstatechange'));
}"""


def test_a_path_that_stays_disconnected_is_restarted_after_the_grace(open_page: OpenPage, room_id: str) -> None:
    alice, _bob, _, b = connected_pair(open_page, f"/chat/{room_id}/")
    alice.evaluate(
        """() => { window.restarts = []; const callbacks = window.call.options.callbacks ?? {};
                   window.call.setOptions({ ...window.call.options, callbacks: { ...callbacks,
                     onIceRestart: (peer) => window.restarts.push(peer) } }); }"""
    )
    # Playwright's clock: the page's timers from here on are fake, and the test moves time on instead of waiting
    # out the 4 s grace (DISCONNECTED_GRACE).
    alice.clock.install()
    alice.evaluate(FAKE_STATE, [b, "disconnected"])
    alice.clock.fast_forward(3900)
    assert alice.evaluate("window.restarts") == []
    alice.clock.fast_forward(200)
    alice.wait_for_function("window.restarts.length === 1")
    assert alice.evaluate("window.restarts") == [b]
    # A path that recovers within the grace is left alone.
    alice.evaluate(FAKE_STATE, [b, "connected"])
    alice.evaluate(FAKE_STATE, [b, "disconnected"])
    alice.clock.fast_forward(2000)
    alice.evaluate(FAKE_STATE, [b, "connected"])
    alice.clock.fast_forward(10_000)
    assert alice.evaluate("window.restarts.length") == 1


def test_failed_or_stalled_path_restarts_ice_with_that_peer_then_gives_up(open_page: OpenPage, room_id: str) -> None:
    alice, bob, _, b = connected_pair(open_page, f"/chat/{room_id}/")
    alice.evaluate(
        """() => { window.restarts = []; window.errors = []; const callbacks = window.call.options.callbacks ?? {};
                   window.call.setOptions({ ...window.call.options, callbacks: { ...callbacks,
                     onIceRestart: (peer) => window.restarts.push(peer),
                     onError: (e) => window.errors.push([e.code, e.peerId]) } }); }"""
    )
    # A failed path restarts ICE at once, with that peer only; the call stays up.
    alice.evaluate(FAKE_STATE, [b, "failed"])
    assert alice.evaluate("window.restarts") == [b]
    # Three restarts in a row without getting connected: the fourth failure is reported, not retried.
    alice.evaluate(FAKE_STATE, [b, "failed"])
    alice.evaluate(FAKE_STATE, [b, "failed"])
    assert alice.evaluate("window.restarts.length") == 3
    alice.evaluate(FAKE_STATE, [b, "failed"])
    assert alice.evaluate("window.restarts.length") == 3
    assert alice.evaluate("window.errors") == [["ice-failed", b]]
    # Connected again: the count starts over.
    alice.evaluate(FAKE_STATE, [b, "connected"])
    alice.evaluate(FAKE_STATE, [b, "failed"])
    assert alice.evaluate("window.restarts.length") == 4
    # Back to the browser's own view of the connection: the restarts renegotiated it, and it is up.
    alice.evaluate(
        f"(() => {{ const pc = window.call.links.get({b!r}).pc; delete pc.connectionState; "
        "pc.dispatchEvent(new Event('connectionstatechange')); })()"
    )
    wait_connected(alice, bob)
