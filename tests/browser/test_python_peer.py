"""The Python peer (``signaling.peer``) and the browser client in one room, in Chromium against a real daphne."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import numpy as np
import pytest
from playwright.sync_api import Page

from signaling.peer import (
    DataChannelMessage,
    DataChannelOpen,
    GeneratedVideoTrack,
    TrackReceived,
    WebRTCCall,
)
from tests.browser.conftest import OpenPage, Site, join, record_messages

T = TypeVar("T")
WIDTH, HEIGHT = 320, 240


def pattern(index: int) -> np.ndarray:
    """The Python peer's video: the left half red, the right half blue."""
    frame = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    frame[:, : WIDTH // 2] = (255, 0, 0)
    frame[:, WIDTH // 2 :] = (0, 0, 255)
    return frame


class EventLoopThread:
    """An asyncio loop of its own for the Python peer, beside Playwright's synchronous API."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def peer_loop() -> Iterator[EventLoopThread]:
    loop = EventLoopThread()
    yield loop
    loop.close()


class Collector:
    """What the Python peer received, gathered on its loop."""

    def __init__(self, call: WebRTCCall) -> None:
        self.messages: asyncio.Queue[DataChannelMessage] = asyncio.Queue()
        self.tracks: asyncio.Queue[TrackReceived] = asyncio.Queue()
        self.open: set[tuple[str, str]] = set()
        self.opened = asyncio.Event()
        call.on(DataChannelMessage, self.messages.put_nowait)
        call.on(TrackReceived, self.tracks.put_nowait)
        call.on(DataChannelOpen, self._opened)

    def _opened(self, event: DataChannelOpen) -> None:
        self.open.add((event.peer_id, event.label))
        self.opened.set()


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
    open_page: OpenPage, site: Site, room_id: str, peer_loop: EventLoopThread
) -> None:
    page = open_page(f"/call/{room_id}/")
    join(page)
    page.wait_for_function("window.call.state === 'signaling' && window.call.peerId !== null")
    page.evaluate("['chat', 'file'].forEach((label) => window.call.createDataChannel({label}))")
    record_messages(page)
    browser_id = page.evaluate("window.call.peerId")

    async def start() -> tuple[WebRTCCall, Collector]:
        call = WebRTCCall(site.daphne.ws_url + "/api/call/signal", room_id, data_channels=["chat", "file"],
                          tracks=[GeneratedVideoTrack(pattern)])
        collector = Collector(call)
        await call.connect()
        return call, collector

    call, collector = peer_loop.run(start())
    assert call.peer_id and call.remote_peer_ids == [browser_id]
    python_id = call.peer_id
    for label in ("chat", "file"):
        page.wait_for_function("([id, label]) => window.call.getDataChannelState(id, label) === 'open'",
                               arg=[python_id, label])

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
    assert [(m.peer_id, m.label) for m in received] == [(browser_id, "chat"), (browser_id, "chat"),
                                                         (browser_id, "file")]
    assert received[0].data == "hello python" and json.loads(received[1].data) == {"n": 1, "s": "é"}
    assert received[2].data == bytes([9]) * 70000

    # Python -> browser: the same three.
    async def send() -> list[Any]:
        return [call.send_string("chat", "hello browser"), call.send_json_to(browser_id, "chat", {"ok": True}),
                call.send_binary("file", bytes(range(256)) * 273 + bytes(112))]

    assert peer_loop.run(send()) == [1, True, 1]
    page.wait_for_function("window.received.length === 3")
    got = page.evaluate("window.received")
    assert got[0] == [python_id, "chat", "hello browser"] and got[1] == [python_id, "chat", '{"ok": true}']
    assert got[2][:2] == [python_id, "file"] and bytes(got[2][2]) == bytes(range(256)) * 273 + bytes(112)

    # The Python peer's pattern arrives in the page and decodes as drawn.
    page.wait_for_function("(id) => window.call.remoteStreams.get(id)?.getVideoTracks().length > 0", arg=python_id)
    colours = page_frame_colours(page, python_id)
    assert colours["size"] == [WIDTH, HEIGHT]
    (red, green, blue), (red2, green2, blue2) = colours["left"], colours["right"]
    assert red > 180 and green < 70 and blue < 70, colours
    assert blue2 > 180 and red2 < 70 and green2 < 70, colours

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

    peer_loop.run(call.hangup())
    page.wait_for_function("(id) => !window.call.remotePeerIds.includes(id)", arg=python_id)
    assert call.state == "disconnected"
