"""Ready-made behaviours for a Python peer: an echo test peer and the loop of a voice agent.

A voice agent reads a remote peer's audio, hands it to a function (speech recognition, a language model, speech
synthesis: whatever the program does) and plays what the function returns back to that peer::

    def respond(frame: av.AudioFrame) -> av.AudioFrame | None:
        return frame  # or the agent's own speech, as 48 kHz audio frames

    async with WebRTCCall(url, "support", token=agent_token) as call:
        voice_loop(call, respond)
        await call.wait_closed()
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
from collections.abc import Callable

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from signaling.peer.call import WebRTCCall
from signaling.peer.events import DataChannelMessage, TrackReceived

#: Audio frames an agent's reply may run ahead of real time before the oldest are dropped (two seconds).
MAX_QUEUED_REPLY_FRAMES = 100
SAMPLE_RATE = 48000
FRAME_SAMPLES = SAMPLE_RATE // 50


class ReplyAudioTrack(MediaStreamTrack):
    """Audio a program pushes (``push(frame)``), sent in real time; silence whenever it has nothing to say."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._frames: asyncio.Queue[av.AudioFrame] = asyncio.Queue(MAX_QUEUED_REPLY_FRAMES)
        # One format for everything sent (what is pushed and the silence between): the encoder wants no change.
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        self._sent = 0
        self._clock: float | None = None

    def push(self, frame: av.AudioFrame) -> None:
        """Queue ``frame`` to be played (any format, layout and rate: it is converted to 48 kHz mono)."""
        frame.pts = None  # the resampler times its output itself
        for converted in self._resampler.resample(frame):
            if self._frames.full():
                self._frames.get_nowait()
            self._frames.put_nowait(converted)

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        loop = asyncio.get_running_loop()
        if self._clock is None:
            self._clock = loop.time()
        due = self._clock + self._sent / SAMPLE_RATE
        await asyncio.sleep(max(0.0, due - loop.time()))
        try:
            frame = self._frames.get_nowait()
        except asyncio.QueueEmpty:
            frame = av.AudioFrame.from_ndarray(np.zeros((1, FRAME_SAMPLES), np.int16), format="s16", layout="mono")
            frame.sample_rate = SAMPLE_RATE
        frame.pts = self._sent
        frame.time_base = fractions.Fraction(1, frame.sample_rate)
        self._sent += frame.samples
        return frame


def voice_loop(call: WebRTCCall, respond: Callable[[av.AudioFrame], av.AudioFrame | None]) -> None:
    """For every remote peer's audio: each frame goes to ``respond``; what it returns is played back to that peer
    (in real time, silence in between)."""
    tasks: set[asyncio.Task[None]] = set()

    async def serve(peer_id: str, audio: MediaStreamTrack) -> None:
        reply = ReplyAudioTrack()
        call.send_track_to(peer_id, reply)
        with contextlib.suppress(MediaStreamError):
            while True:
                answer = respond(await audio.recv())  # type: ignore[arg-type]
                if answer is not None:
                    reply.push(answer)
        reply.stop()

    def on_track(event: TrackReceived) -> None:
        if event.track.kind == "audio":
            task = asyncio.ensure_future(serve(event.peer_id, event.track))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    call.on(TrackReceived, on_track)


def echo(call: WebRTCCall) -> None:
    """An echo test peer: each remote peer gets its own audio and video back, and every data channel message it
    sends comes back on the channel it came in on."""

    def on_track(event: TrackReceived) -> None:
        call.send_track_to(event.peer_id, event.track)

    def on_message(event: DataChannelMessage) -> None:
        if isinstance(event.data, str):
            call.send_string_to(event.peer_id, event.label, event.data)
        else:
            call.send_binary_to(event.peer_id, event.label, event.data)

    call.on(TrackReceived, on_track)
    call.on(DataChannelMessage, on_message)
