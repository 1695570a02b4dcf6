"""Tracks of a Python peer: what it sends (any aiortc ``MediaStreamTrack``, muted on demand, shared by every peer
connection) and what it receives (each remote track read once and handed to any number of readers, each through
a bounded queue).

aiortc's own queues grow without bound when nobody reads a track; here a remote track is always read, and a
reader that falls behind loses its oldest frames (counted in ``dropped``) rather than the process its memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any

import av
import numpy as np
from aiortc import RTCRtpReceiver
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from signaling.peer.jitter import give_up_in_time

#: Frames a reader of a remote track may fall behind by before its oldest ones are dropped (about two seconds of
#: 30 fps video, or of 20 ms audio frames at 100).
DEFAULT_MAX_BUFFERED_FRAMES = 100


class RemoteTrack(MediaStreamTrack):
    """One reader's view of a remote peer's track: ``await recv()`` gives its frames in order."""

    def __init__(self, kind: str, peer_id: str, max_buffered: int) -> None:
        super().__init__()
        self.kind = kind
        self.peer_id = peer_id
        self.dropped = 0
        self._frames: asyncio.Queue[av.AudioFrame | av.VideoFrame | None] = asyncio.Queue(max_buffered)

    def _put(self, frame: av.AudioFrame | av.VideoFrame | None) -> None:
        while True:
            try:
                self._frames.put_nowait(frame)
                return
            except asyncio.QueueFull:
                self._frames.get_nowait()
                self.dropped += 1

    async def recv(self) -> av.AudioFrame | av.VideoFrame:
        if self.readyState != "live" and self._frames.empty():
            raise MediaStreamError
        frame = await self._frames.get()
        if frame is None:
            self.stop()
            raise MediaStreamError
        return frame


async def encodable(frame: av.AudioFrame | av.VideoFrame) -> av.AudioFrame | av.VideoFrame:
    """A local frame as aiortc's video encoders take it (yuv420p), converted once for every connection that sends
    it. Each encoder would otherwise convert the one shared frame itself, in a thread of its own, through the
    frame's one converter (PyAV's reformatter), which is not thread-safe: a peer sending to three others crashed
    or hung. The conversion runs in a thread, as the encoders' own did; a frame that needs none stays here."""
    if not isinstance(frame, av.VideoFrame) or frame.format.name == "yuv420p":
        return frame
    convert = functools.partial(frame.reformat, format="yuv420p")
    converted = await asyncio.get_running_loop().run_in_executor(None, convert)
    converted.pts, converted.time_base = frame.pts, frame.time_base
    return converted


class TrackFeed:
    """Reads a remote track for as long as it lasts and gives each frame to every reader (a local source's, through
    ``prepare``)."""

    def __init__(
        self,
        track: MediaStreamTrack,
        peer_id: str,
        max_buffered: int,
        receiver: Any = None,
        prepare: Callable[[av.AudioFrame | av.VideoFrame], Awaitable[av.AudioFrame | av.VideoFrame]] | None = None,
    ) -> None:
        self.track = track
        self._prepare = prepare
        #: The aiortc RTCRtpReceiver the track comes from (None for a local source).
        self.receiver = receiver
        if receiver is not None:
            give_up_in_time(receiver)  # before its first packet: a packet lost for good costs half a second
        self.kind = track.kind
        self.peer_id = peer_id
        self.max_buffered = max_buffered
        self.readers: list[RemoteTrack] = []
        self.ended = False
        self.frames = 0
        self._task = asyncio.get_running_loop().create_task(self._run())

    def reader(self) -> RemoteTrack:
        reader = RemoteTrack(self.kind, self.peer_id, self.max_buffered)
        if self.ended:
            reader._put(None)
        else:
            self.readers.append(reader)
        return reader

    async def _run(self) -> None:
        try:
            while True:
                frame = await self.track.recv()
                if not isinstance(frame, av.AudioFrame | av.VideoFrame):
                    continue  # an encoded packet (a track of a relay): not ours to hand out
                self.frames += 1
                if self._prepare is not None:
                    frame = await self._prepare(frame)
                for reader in self.readers:
                    if reader.readyState == "live":
                        reader._put(frame)
        except MediaStreamError:
            pass
        finally:
            self.ended = True
            for reader in self.readers:
                reader._put(None)

    def stop(self) -> None:
        self._task.cancel()


class MutableTrack(MediaStreamTrack):
    """A local track that can be muted: while muted it sends silence or black frames of the source's shape (the
    peer connection stays as it is, as a muted browser track does). One per peer connection, over a shared source
    (``SharedSource``)."""

    def __init__(self, source: SharedSource) -> None:
        super().__init__()
        self.kind = source.kind
        self._source = source
        self._reader = source.reader()

    async def recv(self) -> av.AudioFrame | av.VideoFrame:
        frame = await self._reader.recv()
        if not self._source.muted:
            return frame
        return silent_copy(frame)

    def stop(self) -> None:
        super().stop()
        self._reader.stop()


class SharedSource:
    """A local track read once for every peer connection that sends it."""

    def __init__(self, track: MediaStreamTrack, max_buffered: int = DEFAULT_MAX_BUFFERED_FRAMES) -> None:
        self.track = track
        self.kind = track.kind
        self.muted = False
        self._max_buffered = max_buffered
        self._feed: TrackFeed | None = None

    def reader(self) -> RemoteTrack:
        if self._feed is None:
            self._feed = TrackFeed(self.track, "local", self._max_buffered, prepare=encodable)
        return self._feed.reader()

    def sender_track(self) -> MutableTrack:
        return MutableTrack(self)

    def stop(self) -> None:
        if self._feed is not None:
            self._feed.stop()
        self.track.stop()


def silent_copy(frame: av.AudioFrame | av.VideoFrame) -> av.AudioFrame | av.VideoFrame:
    """Silence (audio) or black (video) with the frame's shape and timing."""
    copy: av.AudioFrame | av.VideoFrame
    if isinstance(frame, av.AudioFrame):
        copy = av.AudioFrame(format=frame.format.name, layout=frame.layout.name, samples=frame.samples)
        for plane in copy.planes:
            plane.update(bytes(plane.buffer_size))
        copy.sample_rate = frame.sample_rate
    else:
        copy = av.VideoFrame.from_ndarray(np.zeros((frame.height, frame.width, 3), np.uint8), format="rgb24")
        copy = copy.reformat(format="yuv420p")  # as the source's frames are (``encodable``)
    copy.pts, copy.time_base = frame.pts, frame.time_base
    return copy


class GeneratedVideoTrack(MediaStreamTrack):
    """Video a program draws: ``draw(index)`` returns an RGB ``numpy`` array (height x width x 3, uint8) for frame
    ``index``; frames are paced at ``fps``. Live, as a camera is: a frame asked for late (the encoder fell behind, the
    machine is busy) is the one due now, and the frames missed meanwhile are never drawn, instead of a burst of them
    all to catch up."""

    kind = "video"

    def __init__(self, draw: Callable[[int], np.ndarray], fps: float = 30.0) -> None:
        super().__init__()
        self._draw = draw
        self._fps = fps
        self._index = 0
        self._started: float | None = None

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._started is None:
            self._started = time.monotonic()
        now = time.monotonic()
        # More than a frame late: skip to the frame of now (its pts says the time that passed).
        self._index = max(self._index, int((now - self._started) * self._fps))
        due = self._started + self._index / self._fps
        await asyncio.sleep(max(0.0, due - now))
        frame = av.VideoFrame.from_ndarray(self._draw(self._index), format="rgb24")
        frame.pts = int(self._index * 90000 / self._fps)
        frame.time_base = fractions.Fraction(1, 90000)
        self._index += 1
        return frame


class GeneratedAudioTrack(MediaStreamTrack):
    """Audio a program makes (a TTS engine's output, a tone): ``produce(samples)`` returns that many mono 16-bit
    samples as a ``numpy`` int16 array; sent in 20 ms frames at ``sample_rate``, paced in real time."""

    kind = "audio"

    def __init__(self, produce: Callable[[int], np.ndarray], sample_rate: int = 48000) -> None:
        super().__init__()
        self._produce = produce
        self._rate = sample_rate
        self._samples = sample_rate // 50
        self._sent = 0
        self._started: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._started is None:
            self._started = time.monotonic()
        due = self._started + self._sent / self._rate
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        samples = np.asarray(self._produce(self._samples), dtype=np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = self._rate
        frame.pts = self._sent
        frame.time_base = fractions.Fraction(1, self._rate)
        self._sent += samples.shape[1]
        return frame


def tone(frequency: float = 440.0, sample_rate: int = 48000, level: float = 0.2) -> Callable[[int], np.ndarray]:
    """A ``produce`` function for ``GeneratedAudioTrack``: a sine tone."""
    position = 0

    def produce(count: int) -> np.ndarray:
        nonlocal position
        times = (np.arange(count) + position) / sample_rate
        position += count
        return (np.sin(2 * np.pi * frequency * times) * level * 32767).astype(np.int16)

    return produce


async def drain(track: MediaStreamTrack) -> None:
    """Read a track to its end, throwing the frames away."""
    with contextlib.suppress(MediaStreamError):
        while True:
            await track.recv()


def key_frame_requester(receiver: RTCRtpReceiver) -> Callable[[], None]:
    """A function that asks the sender of a video receiver for a key frame (an RTCP picture loss indication)."""
    tasks: set[asyncio.Task[None]] = set()

    def request() -> None:
        for source in receiver.getSynchronizationSources():
            # aiortc sends PLIs itself only after a decoding error; its method for it is not public.
            task = asyncio.ensure_future(receiver._send_rtcp_pli(source.source))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    return request
