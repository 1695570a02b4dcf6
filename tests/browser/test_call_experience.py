"""The call as people live it, in Chromium: names and media badges, the active speaker, late joiners, names in
the chat log, device switching without renegotiation, a denied camera, a 20 MB file over the
chat, and every demo page at phone and desktop widths (screenshots in tests/browser/build/screenshots)."""

from __future__ import annotations

import hashlib
import itertools
import os
import time

from playwright.sync_api import Page

from rtcsite.servers import wait_for_async
from tests.browser.conftest import BUILD, OpenPage, Site, peer_id, wait_connected
from tests.browser.test_recording_upload import start_call

SCREENSHOTS = BUILD / "screenshots"
WIDTHS = {"phone": (390, 844), "desktop": (1280, 800)}


def enter(page: Page, name: str) -> None:
    """The pre-join screen: a name, then one Join click."""
    page.fill("#name", name)
    page.click("#join")
    page.wait_for_function("window.call.peerId !== null")


def named_pair(
    open_page: OpenPage, first: str, second: str | None = None, names: tuple[str, str] = ("Ada", "Bob")
) -> tuple[Page, Page]:
    """Two pages (paths of the site) that entered under these names and are connected to each other."""
    pages = open_page(first), open_page(second or first)
    for page, name in zip(pages, names, strict=True):
        enter(page, name)
    wait_connected(*pages)
    return pages


def tile(page: Page, peer: str) -> str:
    return f"figure.remote[data-peer='{peer}']"


def no_horizontal_scroll(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def shoot(page: Page, name: str) -> None:
    """Screenshots at phone and desktop widths, each checked for horizontal scrolling."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for label, (width, height) in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": height})
        # Laid out at the new width, and every shown video painting frames again.
        page.wait_for_function(
            """(width) => window.innerWidth === width && [...document.querySelectorAll('video')]
                 .filter((v) => v.srcObject && v.offsetParent && v.srcObject.getVideoTracks().length)
                 .every((v) => v.readyState >= 2 && v.videoWidth > 0)""",
            arg=width,
        )
        page.evaluate("() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)))")
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{label}.png"), full_page=True)
        assert no_horizontal_scroll(page), f"{name} scrolls sideways at {width} px"


def test_names_badges_and_the_active_speaker(open_page: OpenPage, room_id: str, site: Site) -> None:
    site.create_room(room_id, 4)
    ada, bob = open_page(f"/call/{room_id}/"), open_page(f"/call/{room_id}/")
    shoot(ada, "call-prejoin")
    enter(ada, "Ada")
    enter(bob, "Bob")
    wait_connected(ada, bob)
    a, b = peer_id(ada), peer_id(bob)
    ada.locator(f"{tile(ada, b)} .name", has_text="Bob").wait_for()
    bob.locator(f"{tile(bob, a)} .name", has_text="Ada").wait_for()

    # Bob mutes: Ada's page shows it within a second.
    started = time.monotonic()
    bob.click("#mute-audio")
    ada.locator(f"{tile(ada, b)} .badge.muted").wait_for(timeout=1000)
    assert time.monotonic() - started < 1.0
    # Bob turns his camera off: a placeholder with his name, not a black frame.
    bob.click("#mute-video")
    placeholder = ada.locator(f"{tile(ada, b)} .placeholder")
    placeholder.wait_for(state="visible", timeout=1000)
    assert "Bob" in placeholder.inner_text()
    assert ada.locator(f"{tile(ada, b)} .badge.camera-off").count() == 1

    # Ada's microphone plays the fake tone, Bob's is muted: Ada is the active speaker on both pages.
    bob.wait_for_function("(peer) => window.call.getSnapshot().activeSpeakerId === peer", arg=a)
    bob.locator(f"{tile(bob, a)}.speaking").wait_for()
    ada.locator("#local-tile.speaking").wait_for()
    assert ada.locator(f"{tile(ada, b)}.speaking").count() == 0

    # A late joiner sees the current names and mute states at once.
    carol = open_page(f"/call/{room_id}/")
    enter(carol, "Carol")
    carol.locator(f"{tile(carol, b)} .badge.muted").wait_for()
    assert carol.evaluate("(peer) => window.call.getSnapshot().peerMedia.get(peer)", b) == {
        "audio": False,
        "video": False,
        "screen": False,
        "recording": False,
    }
    carol.locator(f"{tile(carol, a)} .name", has_text="Ada").wait_for()
    carol.locator(f"{tile(carol, b)} .name", has_text="Bob").wait_for()
    wait_connected(ada, bob, carol, peers=2)
    shoot(carol, "call-in-call")


def test_the_chat_log_names_each_peer_as_its_tile_does(open_page: OpenPage, room_id: str) -> None:
    """Every name in the chat log is the tile's, and follows it when the peer's name changes (`peer-updated`;
    also when its name reaches the page after the line that names it)."""
    ada = open_page(f"/call/{room_id}/")
    enter(ada, "Ada")
    bob = open_page(f"/call/{room_id}/")
    enter(bob, "Bob")
    wait_connected(ada, bob)
    b = peer_id(bob)
    names = f"#messages .peer-name[data-peer='{b}']"
    ada.locator(names, has_text="Bob").first.wait_for()
    ada.locator(f"{tile(ada, b)} .name", has_text="Bob").wait_for()
    bob.evaluate("window.call.sendString('chat', 'hi')")
    ada.locator("#messages li.message", has_text="hi").wait_for()
    bob.evaluate("window.call.setMetadata({ name: 'Robert' })")
    ada.locator(f"{tile(ada, b)} .name", has_text="Robert").wait_for()
    ada.wait_for_function(
        "(sel) => [...document.querySelectorAll(sel)].every((tag) => tag.textContent === 'Robert')", arg=names
    )
    assert ada.locator(names).count() >= 2  # the "joined" notice and the message's sender
    joined = ada.locator("#messages li.notice", has_text="joined").last.inner_text()
    assert "Robert joined" in joined


def test_device_switch_keeps_video_flowing_without_renegotiation(open_page: OpenPage, room_id: str) -> None:
    ada, bob = named_pair(open_page, f"/call/{room_id}/")
    a = peer_id(ada)
    frames = (
        "(peer) => window.call.links.get(peer).pc.getStats().then((s) => { let n = 0; s.forEach((r) => {"
        " if (r.type === 'inbound-rtp' && r.kind === 'video') n = r.framesDecoded; }); return n; })"
    )
    wait_for_async(bob, f"async (peer) => (await ({frames})(peer)) > 10", a)
    ada.evaluate("""() => {
      window.sdpSent = 0;
      const send = window.call.connection.send.bind(window.call.connection);
      window.call.connection.send = (m) => { if (m.t === 'sdp') window.sdpSent += 1; return send(m); };
    }""")
    before_track = ada.evaluate("window.call.getSnapshot().localStream.getVideoTracks()[0].id")
    device = ada.evaluate("window.call.getDevices().then((d) => d.videoinput[d.videoinput.length - 1].deviceId)")
    ada.evaluate("(id) => window.call.switchDevice('videoinput', id)", device)
    assert ada.evaluate("window.call.getSnapshot().localStream.getVideoTracks()[0].id") != before_track
    decoded = bob.evaluate(f"({frames})", a)
    wait_for_async(bob, f"async ([peer, n]) => (await ({frames})(peer)) > n + 30", [a, decoded])
    assert ada.evaluate("window.sdpSent") == 0
    assert ada.evaluate("(peer) => window.call.links.get(peer).pc.signalingState", peer_id(bob)) == "stable"

    # The camera is unplugged (its track ends): the call takes the default camera, still without renegotiating.
    unplugged = ada.evaluate("""() => {
      const track = window.call.getSnapshot().localStream.getVideoTracks()[0];
      track.stop();
      track.dispatchEvent(new Event('ended'));  // what the browser fires when the device goes away
      return track.id;
    }""")
    ada.wait_for_function(
        "(old) => { const t = window.call.localStream.getVideoTracks()[0]; return t && t.id !== old; }", arg=unplugged
    )
    decoded = bob.evaluate(f"({frames})", a)
    wait_for_async(bob, f"async ([peer, n]) => (await ({frames})(peer)) > n + 30", [a, decoded])
    assert ada.evaluate("window.sdpSent") == 0


DENY_CAMERA = """
(() => {
  const real = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = (constraints) =>
    constraints && constraints.video
      ? Promise.reject(new DOMException('Permission denied', 'NotAllowedError'))
      : real(constraints);
})();
"""


def test_a_denied_camera_joins_with_audio_only_and_says_so(open_page: OpenPage, room_id: str) -> None:
    bob = open_page(f"/call/{room_id}/")
    ada = open_page(f"/call/{room_id}/")
    ada.add_init_script(DENY_CAMERA)
    ada.reload()
    note = ada.locator("#prejoin-note")
    note.wait_for(state="visible")
    assert "camera or microphone" in note.inner_text()
    assert "audio only" in note.inner_text()
    assert "Error" not in note.inner_text()
    enter(ada, "Ada")
    enter(bob, "Bob")
    wait_connected(ada, bob)
    a = peer_id(ada)
    bob.wait_for_function("(peer) => window.call.remoteStreams.get(peer)?.getAudioTracks().length === 1", arg=a)
    assert bob.evaluate("(peer) => window.call.remoteStreams.get(peer).getVideoTracks().length", a) == 0
    bob.locator(f"{tile(bob, a)} .badge.camera-off").wait_for()
    # The library on its own falls back the same way, with a typed error the page can explain.
    outcome = ada.evaluate("""async () => {
      const { WebRTCCall } = await import('/static/frontend/webrtc/index.js');
      const errors = [];
      const call = new WebRTCCall({ roomId: 'fallback-' + Date.now(), signalUrl: '/api/call/signal', iceServers: [],
        callbacks: { onError: (e) => errors.push([e.name, e.code, e.message]) } });
      await new Promise((resolve) => call.subscribe(() => { if (call.peerId) resolve(); }));
      const result = { fallback: call.getSnapshot().mediaFallback, audio: call.localStream.getAudioTracks().length,
        video: call.localStream.getVideoTracks().length, errors };
      call.destroy();
      return result;
    }""")
    assert outcome["fallback"] == "audio-only"
    assert outcome["audio"] == 1
    assert outcome["video"] == 0
    assert outcome["errors"][0][:2] == ["WebRTCCallError", "camera-unavailable"]


SAMPLE_PROGRESS = """() => {
  window.progressSamples = [];
  window.sampler = setInterval(() => {
    const bar = document.querySelector('#messages progress.transfer');
    if (bar) window.progressSamples.push(bar.value);
  }, 20);
}"""

RECEIVED_DIGEST = """async () => {
  const link = document.querySelector('#messages a[data-transfer]');
  const bytes = await (await fetch(link.href)).arrayBuffer();
  const digest = await crypto.subtle.digest('SHA-256', bytes);
  const hex = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
  return { size: bytes.byteLength, sha256: hex, name: link.download };
}"""


def test_a_20_mb_file_crosses_the_chat_intact_with_monotonic_progress(open_page: OpenPage, room_id: str) -> None:
    ada, bob = named_pair(open_page, f"/chat/{room_id}/")
    payload = os.urandom(20 * 1024 * 1024)
    bob.evaluate(SAMPLE_PROGRESS)
    ada.set_input_files("#file", {"name": "big.bin", "mimeType": "application/octet-stream", "buffer": payload})
    bob.locator("#messages a[data-transfer]").wait_for(timeout=120_000)
    samples = bob.evaluate("clearInterval(window.sampler) || window.progressSamples")
    assert len(samples) > 3
    assert all(later >= earlier for earlier, later in itertools.pairwise(samples))
    received = bob.evaluate(RECEIVED_DIGEST)
    assert received == {"size": len(payload), "sha256": hashlib.sha256(payload).hexdigest(), "name": "big.bin"}
    # The chat names who sent it.
    assert "Ada" in bob.locator("#messages li", has_text="big.bin").inner_text()
    shoot(bob, "chat")


def test_the_lobby_shows_live_occupancy_and_fits_a_phone(open_page: OpenPage, room_id: str, site: Site) -> None:
    site.create_room(room_id, 1)
    lobby = open_page("/")
    row = lobby.locator(f"#rooms tr[data-room='{room_id}'] .live")
    assert row.inner_text().strip().startswith("0 / 1")
    solo = open_page(f"/chat/{room_id}/")
    enter(solo, "Solo")
    # Refreshed without a reload; full rooms marked.
    lobby.wait_for_function(
        "(id) => document.querySelector(`#rooms tr[data-room='${id}']`).classList.contains('full')", arg=room_id
    )
    assert row.inner_text().strip() == "1 / 1 · full"
    shoot(lobby, "lobby")


def test_demo_recording_has_a_timer_and_uploads_its_duration(open_page: OpenPage, site: Site, room_id: str) -> None:
    alice = start_call(open_page, site, room_id)
    alice.click("#record")
    timer = alice.locator("#record-timer")
    timer.wait_for(state="visible")
    alice.wait_for_function("document.getElementById('record-timer').textContent === '0:02'")
    alice.click("#record")
    timer.wait_for(state="hidden")
    upload = alice.locator("#recordings li", has_text="You").locator("button")
    upload.click()
    alice.wait_for_function("document.querySelector('#recordings button[data-recording]') !== null")
    recording_id = alice.evaluate("document.querySelector('#recordings button[data-recording]').dataset.recording")
    saved = alice.evaluate("async (id) => (await fetch(`/api/recordings/${id}/`)).json()", recording_id)
    assert saved["status"] == "complete"
    assert 2 <= saved["duration"] < 10


def test_a_reload_rejoins_under_the_same_name(open_page: OpenPage, room_id: str) -> None:
    ada, bob = named_pair(open_page, f"/call/{room_id}/")
    ada.reload()
    # No click: the page was in the call, so it joins again at once, under the name it remembered.
    ada.wait_for_function("window.call.peerId !== null")
    wait_connected(ada, bob)
    bob.locator(f"{tile(bob, peer_id(ada))} .name", has_text="Ada").wait_for()
    # Leaving on purpose forgets it: the next visit shows the pre-join screen.
    ada.click("#hangup")
    ada.reload()
    ada.locator("#prejoin").wait_for(state="visible")
    assert ada.evaluate("(room) => sessionStorage.getItem(`rtc-demo.in-call.${room}`)", room_id) is None
    assert ada.evaluate("window.call.state") == "idle"


def test_a_chat_page_and_a_video_page_of_one_room_talk(open_page: OpenPage, room_id: str) -> None:
    video, chat = named_pair(open_page, f"/call/{room_id}/", f"/chat/{room_id}/", names=("Vera", "Chad"))
    c = peer_id(chat)
    # Not a black tile: one that says who it is and that it is chat only.
    chat_tile = video.locator(f"{tile(video, c)}.chat-only")
    chat_tile.wait_for()
    assert "Chad · chat only" in chat_tile.inner_text()
    # Messages cross both ways, with names.
    chat.fill("#message", "hello from the chat page")
    chat.click("#send")
    video.locator("#messages li", has_text="hello from the chat page").wait_for()
    assert "Chad" in video.locator("#messages li", has_text="hello from the chat page").inner_text()
    video.fill("#message", "hello from the call page")
    video.click("#send")
    chat.locator("#messages li", has_text="hello from the call page").wait_for()
    assert "Vera" in chat.locator("#messages li", has_text="hello from the call page").inner_text()
    # Whoever records, every page says so.
    assert chat.locator("#recording-indicator").is_hidden()
    video.click("#record")
    chat.locator("#recording-indicator").wait_for(state="visible")
    video.click("#record")
    chat.locator("#recording-indicator").wait_for(state="hidden")
