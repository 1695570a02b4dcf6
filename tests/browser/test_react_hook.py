"""The React hook in a page bundled for the test (React, ReactDOM and useWebRTCCall, by esbuild)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.browser.conftest import OpenPage, build_react_test_page


@pytest.fixture(scope="module", autouse=True)
def react_test_page() -> Iterator[None]:
    bundle = build_react_test_page()
    yield
    bundle.unlink(missing_ok=True)


def test_hook_survives_rerenders_with_inline_options(open_page: OpenPage, room_id: str) -> None:
    alice = open_page(f"/static/react_app.html?room={room_id}")
    bob = open_page(f"/static/react_app.html?room={room_id}")
    for page in (alice, bob):
        page.wait_for_function("document.getElementById('state').textContent === 'connected'")
    a = alice.text_content("#peer")
    b = bob.text_content("#peer")
    assert a
    assert b
    assert a != b
    assert alice.text_content("#peers") == b
    local_stream = alice.evaluate("window.hook.localStream.id")
    ticks = int(alice.text_content("#tick") or 0)

    # Seconds of re-renders, each with new option objects and callbacks: the call is the same call.
    alice.wait_for_timeout(2000)
    for page, me, other in ((alice, a, b), (bob, b, a)):
        assert page.evaluate("window.renders") > 50
        assert page.text_content("#state") == "connected"
        assert page.text_content("#peer") == me
        assert page.text_content("#peers") == other
        # StrictMode mounted twice, yet one peer connection for the one remote peer, ever.
        assert page.evaluate("window.peerConnections") == 1
    assert alice.evaluate("window.hook.localStream.id") == local_stream
    assert alice.evaluate("document.getElementById('local').srcObject?.id") == local_stream
    assert int(alice.text_content("#tick") or 0) > ticks + 50

    # The newest render's callback receives (an early render's closure would report an early tick).
    sent_at = int(alice.text_content("#tick") or 0)
    bob.evaluate("window.hook.sendString('chat', 'from a re-rendering component')")
    alice.wait_for_function("window.received.length === 1")
    message = alice.evaluate("window.received[0]")
    assert message["from"] == b
    assert message["label"] == "chat"
    assert message["data"] == "from a re-rendering component"
    assert message["tick"] >= sent_at - 5
    assert bob.evaluate(f"window.hook.getDataChannelState({a!r}, 'chat')") == "open"
    assert alice.evaluate(f"window.hook.remoteStreams.get({b!r}).getVideoTracks().length") == 1
