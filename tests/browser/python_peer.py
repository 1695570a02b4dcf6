"""The Python peer's side of the browser tests: its own event loop beside Playwright's synchronous API, what it
received, and the picture it sends."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import numpy as np
from aiortc.mediastreams import MediaStreamError

from signaling.peer import (
    DataChannelMessage,
    DataChannelOpen,
    GeneratedAudioTrack,
    GeneratedVideoTrack,
    PeerLeft,
    SfuMoved,
    TrackReceived,
    WebRTCCall,
    tone,
)

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
        async def cancel_the_rest() -> None:
            tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.run(cancel_the_rest())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


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


class CountingPeer:
    """A Python participant publishing a flat shade of grey and a tone: it counts the video and audio frames it
    receives of each peer, keeps the mean shade of each peer's last frame (whose picture a stream carries), the
    data it receives, and who left and why. Made on its loop (``make``)."""

    def __init__(self, url: str, room_id: str, shade: int, **options: Any) -> None:
        """``options``: more of WebRTCCall's (say, ``ice_transport_policy``)."""
        video = GeneratedVideoTrack(lambda index: np.full((90, 120, 3), shade, np.uint8), fps=15)
        tracks = [video, GeneratedAudioTrack(tone())]
        self.call = WebRTCCall(url, room_id, tracks=tracks, data_channels=["chat"], **options)
        self.video: dict[str, int] = {}
        self.audio: dict[str, int] = {}
        self.shades: dict[str, float] = {}
        self.received: list[tuple[str, str, str | bytes]] = []
        self.left: dict[str, str] = {}
        #: When each peer's last video frame came (the loop's clock), and the longest wait for one (s).
        self.last_video: dict[str, float] = {}
        self.longest_video_gap: dict[str, float] = {}
        self.moves = 0
        self.call.on(TrackReceived, self._count)
        self.call.on(SfuMoved, self._moved)
        self.call.on(DataChannelMessage, lambda e: self.received.append((e.peer_id, e.label, e.data)))
        self.call.on(PeerLeft, lambda e: self.left.__setitem__(e.peer_id, e.reason))

    @classmethod
    async def make(cls, url: str, room_id: str, shade: int, **options: Any) -> CountingPeer:
        return cls(url, room_id, shade, **options)

    @property
    def peer_id(self) -> str:
        assert self.call.peer_id is not None
        return self.call.peer_id

    def _moved(self, event: SfuMoved) -> None:
        self.moves += 1

    async def _count(self, event: TrackReceived) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await event.track.recv()
                if event.track.kind == "audio":
                    self.audio[event.peer_id] = self.audio.get(event.peer_id, 0) + 1
                else:
                    now = asyncio.get_running_loop().time()
                    if event.peer_id in self.last_video:
                        gap = now - self.last_video[event.peer_id]
                        self.longest_video_gap[event.peer_id] = max(self.longest_video_gap.get(event.peer_id, 0), gap)
                    self.last_video[event.peer_id] = now
                    self.video[event.peer_id] = self.video.get(event.peer_id, 0) + 1
                    self.shades[event.peer_id] = float(frame.to_ndarray(format="rgb24").mean())
