"""The Python peer (``signaling.peer``) and the browser client in one room, in Chromium against a real daphne."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from playwright.sync_api import Page

from rtcsite.servers import ROOT
from signaling.peer import (
    DataChannelMessage,
    GeneratedVideoTrack,
    WebRTCCall,
    WebRTCCallError,
)
from tests.browser.conftest import OpenPage, Site, join, record_messages
from tests.browser.python_peer import HEIGHT, WIDTH, Collector, EventLoopThread, pattern


def page_frame_colours(page: Page, peer_id: str) -> dict[str, list[int]]:
    """The page decodes the Python peer's video and reads the middle of its left and right halves."""
    return page.evaluate(
        """async (peerId) => {
          const stream = window.call.remoteStreams.get(peerId);
          const video = document.createElement('video');
          video.muted = true; video.srcObject = stream; document.body.append(video);
          await video.play();
          while (video.videoWidth === 0) await new Promise((r) => setTimeout(r, 50));
          await new Promise((r) => setTimeout(r, 500));
          const canvas = document.createElement('canvas');
          canvas.width = video.videoWidth; canvas.height = video.videoHeight;
          const context = canvas.getContext('2d');
          context.drawImage(video, 0, 0);
          const at = (x, y) => [...context.getImageData(x, y, 1, 1).data.slice(0, 3)];
          return {size: [video.videoWidth, video.videoHeight],
                  left: at(canvas.width / 4, canvas.height / 2), right: at(canvas.width * 3 / 4, canvas.height / 2)};
        }""",
        peer_id,
    )


def test_a_python_peer_and_a_browser_exchange_data_and_media(
    open_page: OpenPage, site: Site, room_id: str, peer_loop: EventLoopThread, tmp_path: Path
) -> None:
    page = open_page(f"/call/{room_id}/")
    join(page)
    page.wait_for_function("window.call.state === 'signaling' && window.call.peerId !== null")
    page.evaluate("['chat', 'file'].forEach((label) => window.call.createDataChannel({label}))")
    record_messages(page)
    browser_id = page.evaluate("window.call.peerId")

    async def start() -> tuple[WebRTCCall, Collector]:
        call = WebRTCCall(
            site.daphne.ws_url + "/api/call/signal",
            room_id,
            data_channels=["chat", "file"],
            tracks=[GeneratedVideoTrack(pattern)],
        )
        collector = Collector(call)
        await call.connect()
        return call, collector

    call, collector = peer_loop.run(start())
    assert call.peer_id
    assert call.remote_peer_ids == [browser_id]
    python_id = call.peer_id
    for label in ("chat", "file"):
        page.wait_for_function(
            "([id, label]) => window.call.getDataChannelState(id, label) === 'open'", arg=[python_id, label]
        )

    async def wait_open() -> None:
        while {(browser_id, "chat"), (browser_id, "file")} - collector.open:
            await asyncio.wait_for(collector.opened.wait(), 20)
            collector.opened.clear()

    peer_loop.run(wait_open())

    # Browser -> Python: a string, JSON and 70,000 bytes.
    page.evaluate("window.call.sendString('chat', 'hello python')")
    page.evaluate("window.call.sendJSON('chat', {n: 1, s: 'é'})")
    page.evaluate("window.call.sendBinary('file', new Uint8Array(70000).fill(9).buffer)")

    async def three_messages() -> list[DataChannelMessage]:
        return [await asyncio.wait_for(collector.messages.get(), 20) for _ in range(3)]

    received = peer_loop.run(three_messages())
    assert [(m.peer_id, m.label) for m in received] == [
        (browser_id, "chat"),
        (browser_id, "chat"),
        (browser_id, "file"),
    ]
    assert received[0].data == "hello python"
    assert json.loads(received[1].data) == {"n": 1, "s": "é"}
    assert received[2].data == bytes([9]) * 70000

    # Python -> browser: the same three.
    async def send() -> list[Any]:
        return [
            call.send_string("chat", "hello browser"),
            call.send_json_to(browser_id, "chat", {"ok": True}),
            call.send_binary("file", bytes(range(256)) * 273 + bytes(112)),
        ]

    assert peer_loop.run(send()) == [1, True, 1]
    page.wait_for_function("window.received.length === 3")
    got = page.evaluate("window.received")
    assert got[0] == [python_id, "chat", "hello browser"]
    assert got[1] == [python_id, "chat", '{"ok": true}']
    assert got[2][:2] == [python_id, "file"]
    assert bytes(got[2][2]) == bytes(range(256)) * 273 + bytes(112)

    # The Python peer's pattern arrives in the page and decodes as drawn.
    page.wait_for_function("(id) => window.call.remoteStreams.get(id)?.getVideoTracks().length > 0", arg=python_id)
    colours = page_frame_colours(page, python_id)
    assert colours["size"] == [WIDTH, HEIGHT]
    (red, green, blue), (red2, green2, blue2) = colours["left"], colours["right"]
    assert (red > 180, green < 70, blue < 70) == (True, True, True), colours
    assert (blue2 > 180, red2 < 70, green2 < 70) == (True, True, True), colours

    # The page's fake camera and microphone arrive at the Python peer as frames.
    async def media() -> tuple[tuple[int, int], int]:
        tracks: dict[str, Any] = {}
        while len(tracks) < 2:
            event = await asyncio.wait_for(collector.tracks.get(), 20)
            assert event.peer_id == browser_id
            tracks[event.track.kind] = event.track
        video = await asyncio.wait_for(tracks["video"].recv(), 20)
        loudest = 0
        for _ in range(150):  # three seconds of 20 ms frames: the fake microphone beeps every second
            frame = await asyncio.wait_for(tracks["audio"].recv(), 20)
            loudest = max(loudest, int(np.abs(frame.to_ndarray().astype(np.int32)).max()))
        return (video.width, video.height), loudest

    size, loudest = peer_loop.run(media(), timeout=60)
    assert size == (640, 480)
    assert loudest > 1000

    # The page's media written to files: WebM (video and audio) and Ogg (audio only) as received, MP4 encoded again.
    async def record() -> tuple[Any, Any, Any]:
        webm = call.record(browser_id, tmp_path / "page.webm")
        ogg = call.record(browser_id, tmp_path / "page.ogg")
        mp4 = call.record(browser_id, tmp_path / "page.mp4")
        await asyncio.sleep(4)
        return await webm.stop(), await ogg.stop(), await mp4.stop()

    webm, ogg, mp4 = peer_loop.run(record())
    assert webm.has_video
    assert webm.has_audio
    assert webm.duration > 2
    assert (webm.width, webm.height) == (640, 480)
    with av.open(str(tmp_path / "page.webm")) as container:
        frames = list(container.decode(video=0))
    assert len(frames) > 30
    sizes = {(f.width, f.height) for f in frames}
    # The camera's picture as received: 640x480, or a step of it that the page's encoder took when the machine was
    # busy (Chromium scales down before it drops frames), never another shape.
    assert max(sizes) == (640, 480)
    assert all(width * 3 == height * 4 for width, height in sizes), sizes
    with av.open(str(tmp_path / "page.ogg")) as container:
        assert not container.streams.video
        audio = np.concatenate([f.to_ndarray().ravel() for f in container.decode(audio=0)])
    assert ogg.has_audio
    assert not ogg.has_video
    assert audio.size > 48000
    assert np.abs(audio).max() > 0.01
    assert mp4.has_video
    assert mp4.has_audio
    assert mp4.duration > 2
    with av.open(str(tmp_path / "page.mp4")) as container:
        assert container.streams.video[0].codec_context.name == "h264"
        mp4_frames = list(container.decode(video=0))
    assert len(mp4_frames) > 30
    assert {(f.width, f.height) for f in mp4_frames} == {(640, 480)}
    with av.open(str(tmp_path / "page.mp4")) as container:
        assert sum(f.samples for f in container.decode(audio=0)) > 48000
    with pytest.raises(ValueError, match="avi"):
        call.record(browser_id, tmp_path / "page.avi")

    peer_loop.run(call.hangup())
    page.wait_for_function("(id) => !window.call.remotePeerIds.includes(id)", arg=python_id)
    assert call.state == "disconnected"


def test_echo_peer_sends_each_peer_its_media_and_messages_back_and_leaves_on_sigterm(
    open_page: OpenPage, site: Site, room_id: str
) -> None:
    page = open_page(f"/call/{room_id}/")
    join(page)
    page.wait_for_function("window.call.state === 'signaling' && window.call.peerId !== null")
    page.evaluate("['chat', 'custom-label'].forEach((label) => window.call.createDataChannel({label}))")
    record_messages(page)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.browser.settings",
        "RTCSITE_DATABASE_URL": f"sqlite:///{site.database}",
    }
    echo = subprocess.Popen(
        [sys.executable, "manage.py", "echo_peer", room_id, "--url", site.daphne.ws_url + "/api/call/signal"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        page.wait_for_function("window.call.remotePeerIds.length === 1", timeout=30000)
        echo_id = page.evaluate("window.call.remotePeerIds[0]")
        for label in ("chat", "custom-label"):
            page.wait_for_function(
                "([id, label]) => window.call.getDataChannelState(id, label) === 'open'", arg=[echo_id, label]
            )
        page.evaluate("window.call.sendString('chat', 'ping')")
        page.evaluate("window.call.sendBinary('custom-label', new Uint8Array([1, 2, 3]).buffer)")
        page.wait_for_function("window.received.length === 2")
        assert page.evaluate("window.received") == [[echo_id, "chat", "ping"], [echo_id, "custom-label", [1, 2, 3]]]
        # Our own camera comes back: the fake device's 640x480 picture, and our microphone.
        page.wait_for_function(
            "(id) => { const s = window.call.remoteStreams.get(id);"
            " return s && s.getVideoTracks().length === 1 && s.getAudioTracks().length === 1; }",
            arg=echo_id,
            timeout=30000,
        )
        colours = page_frame_colours(page, echo_id)
        assert colours["size"] == [640, 480]
        echo.send_signal(signal.SIGTERM)
        assert echo.wait(15) == 0, echo.stdout.read() if echo.stdout else ""
        page.wait_for_function("(id) => !window.call.remotePeerIds.includes(id)", arg=echo_id)
    finally:
        if echo.poll() is None:
            echo.kill()


def test_a_recorder_in_a_full_room_shows_the_recording_indicator(
    open_page: OpenPage, site: Site, room_id: str, peer_loop: EventLoopThread
) -> None:
    site.create_room(room_id, max_peers=1)
    page = open_page(f"/call/{room_id}/")
    join(page)
    page.wait_for_function("window.call.state === 'signaling' && window.call.peerId !== null")
    assert page.locator("#recording-indicator").is_hidden()
    minted = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            f"from signaling.tokens import issue_room_token; print(issue_room_token({room_id!r}, None, 'recorder')[0])",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.browser.settings",
            "RTCSITE_DATABASE_URL": f"sqlite:///{site.database}",
        },
    )
    token = minted.stdout.strip().splitlines()[-1]
    url = site.daphne.ws_url + "/api/call/signal"

    async def recorder_joins() -> WebRTCCall:
        # The room is full for participants: only the recorder's extra seat lets it in.
        participant = WebRTCCall(url, room_id, auto_reconnect=False)
        with pytest.raises(WebRTCCallError) as full:
            await participant.connect()
        assert full.value.code == "room-full"
        recorder = WebRTCCall(url, room_id, token=token)
        await recorder.connect()
        return recorder

    recorder = peer_loop.run(recorder_joins())
    assert recorder.peer_id
    assert recorder.peer_id.startswith("peer.recorder.")
    indicator = page.locator("#recording-indicator")
    indicator.wait_for(state="visible")
    assert indicator.text_content() == "● Recording"
    assert page.evaluate("window.call.getSnapshot().peerRoles.get(window.call.remotePeerIds[0])") == "recorder"
    # It sends nothing to show: no video tile for it, the indicator stands for it.
    assert page.locator(f"figure[data-peer='{recorder.peer_id}']").count() == 0
    peer_loop.run(recorder.hangup())
    indicator.wait_for(state="hidden")


ICE_UFRAG = r"(id) => window.call.links.get(id).pc.remoteDescription.sdp.match(/a=ice-ufrag:(\S+)/)[1]"


def chat_with_a_python_peer(
    open_page: OpenPage, site: Site, room_id: str, peer_loop: EventLoopThread, **options: Any
) -> tuple[Page, WebRTCCall, Collector]:
    """A chat page and a Python peer in one room, their `chat` channel open."""
    page = open_page(f"/chat/{room_id}/")
    join(page)
    page.wait_for_function("window.call.peerId !== null")
    record_messages(page)

    async def start() -> tuple[WebRTCCall, Collector]:
        call = WebRTCCall(site.daphne.ws_url + "/api/call/signal", room_id, data_channels=["chat"], **options)
        collector = Collector(call)
        await call.connect()
        return call, collector

    call, collector = peer_loop.run(start())
    page.wait_for_function("(id) => window.call.getDataChannelState(id, 'chat') === 'open'", arg=call.peer_id)
    return page, call, collector


def restart_and_wait_for_the_new_path(page: Page, python_id: str, restart: Callable[[], object]) -> None:
    """Run ``restart``; wait until the page's connection to the Python peer has new ICE credentials, is connected,
    and has a new `chat` channel open (the Python peer moved to a fresh connection)."""
    before = page.evaluate(ICE_UFRAG, python_id)
    page.evaluate("(id) => { window.oldChannel = window.call.links.get(id).channels.get('chat'); }", python_id)
    restart()
    page.wait_for_function(
        f"(id) => ({ICE_UFRAG})(id) !== {before!r} && window.call.links.get(id).isConnected"
        " && window.call.links.get(id).channels.get('chat') !== window.oldChannel"
        " && window.call.getDataChannelState(id, 'chat') === 'open'",
        arg=python_id,
        timeout=20000,
    )


def test_an_ice_restart_by_the_browser_keeps_the_call_with_a_python_peer(
    open_page: OpenPage, site: Site, room_id: str, peer_loop: EventLoopThread
) -> None:
    page, call, collector = chat_with_a_python_peer(open_page, site, room_id, peer_loop)
    python_id = str(call.peer_id)
    # What the browser client does when a path fails: restart ICE on the same connection.
    restart_and_wait_for_the_new_path(
        page, python_id, lambda: page.evaluate("(id) => window.call.links.get(id).restartIce()", python_id)
    )
    page.evaluate("window.call.sendString('chat', 'after the restart')")

    async def message() -> DataChannelMessage:
        while True:
            received = await asyncio.wait_for(collector.messages.get(), 20)
            if received.data == "after the restart":
                return received

    assert peer_loop.run(message()).peer_id == page.evaluate("window.call.peerId")
    assert peer_loop.run(asyncio.sleep(0, result=call.send_string("chat", "and back"))) == 1
    page.wait_for_function("window.received.some(([, , data]) => data === 'and back')")
    peer_loop.run(call.hangup())


def test_an_ice_restart_by_the_python_peer_moves_the_call_to_a_new_path(
    open_page: OpenPage, site: Site, room_id: str, peer_loop: EventLoopThread
) -> None:
    # Impolite whatever the ids say: the side that makes the restart's offer.
    page, call, _ = chat_with_a_python_peer(open_page, site, room_id, peer_loop, polite=False)
    browser_id = page.evaluate("window.call.peerId")
    restart_and_wait_for_the_new_path(page, str(call.peer_id), lambda: peer_loop.run(call.restart_ice(browser_id)))

    async def send_when_open() -> int:
        for _ in range(100):
            if call.send_string("chat", "over the new path"):
                return 1
            await asyncio.sleep(0.1)
        return 0

    assert peer_loop.run(send_when_open()) == 1
    page.wait_for_function("window.received.some(([, , data]) => data === 'over the new path')")
    peer_loop.run(call.hangup())
