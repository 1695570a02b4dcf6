"""A video jitter buffer that gives up on a lost packet in time.

aiortc's (1.16) waits for a missing packet until 512 packets are held behind it: for the small streams an SFU
forwards (a packet or two per frame at 15 fps) that is half a minute of frozen video per packet lost for good,
and a burst of loss (a loaded machine's socket buffer overflowing) freezes every stream of a subscription at
once. This one waits until it holds ``MAX_WAIT`` seconds of media behind the hole (long enough for a
retransmission to come), then drops what it holds and asks for a key frame, as aiortc does when its own buffer
overflows. The upstream change is the same rule in ``aiortc.jitterbuffer.JitterBuffer``.
"""

from __future__ import annotations

from typing import Any

from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtp import RtpPacket
from aiortc.utils import uint16_add

#: Seconds of media held behind a missing packet before it is given up on.
MAX_WAIT = 0.5
#: aiortc's capacity for video (a power of two); the time limit comes first for any stream below 1,000 packets/s.
CAPACITY = 512
VIDEO_CLOCK_RATE = 90_000


class TimelyJitterBuffer(JitterBuffer):
    """aiortc's video jitter buffer, which gives up on a missing packet once ``max_wait`` seconds of media are held
    behind it."""

    def __init__(self, max_wait: float = MAX_WAIT, clock_rate: int = VIDEO_CLOCK_RATE) -> None:
        super().__init__(capacity=CAPACITY, is_video=True)
        self._max_wait_ticks = int(max_wait * clock_rate)
        #: Holes given up on (each cost the frame it was part of, and a key frame request).
        self.skipped = 0

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        pli, frame = super().add(packet)
        if frame is not None or self._origin is None:
            return pli, frame
        # A frame comes out as soon as the packet after it is in: media held this long is behind a hole.
        oldest = self._oldest_held()
        if oldest is None or packet is oldest:
            return pli, frame
        held_for = (packet.timestamp - oldest.timestamp) % 2**32
        if held_for >= 2**31 or held_for < self._max_wait_ticks:
            return pli, frame
        self.skipped += 1
        # What is held goes, this packet with it: the frames after a lost one need it to decode (they would come
        # out broken), and kept, they would stay a backlog behind every later frame. A key frame starts anew.
        self.remove(uint16_add(packet.sequence_number, -self._origin) + 1)
        return True, None

    def _oldest_held(self) -> RtpPacket | None:
        assert self._origin is not None
        for offset in range(self._capacity):
            held = self._packets[(self._origin + offset) % self._capacity]
            if held is not None:
                return held
        return None


def give_up_in_time(receiver: Any) -> None:
    """Put a ``TimelyJitterBuffer`` in a video receiver of aiortc's, before its first packet."""
    current = getattr(receiver, "_RTCRtpReceiver__jitter_buffer", None)
    if isinstance(current, JitterBuffer) and current._is_video and not isinstance(current, TimelyJitterBuffer):
        receiver._RTCRtpReceiver__jitter_buffer = TimelyJitterBuffer()
