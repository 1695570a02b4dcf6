"""The Python peer's media (``signaling.peer.media``, ``signaling.peer.jitter``): one source sent to several
connections, each with an encoder of its own in a thread of its own, as aiortc encodes; and received video that
gives up on a packet lost for good in time."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtp import RtpPacket

from signaling.peer.jitter import MAX_WAIT, TimelyJitterBuffer, give_up_in_time

ROOT = Path(__file__).resolve().parent.parent

#: Three VP8 encoders, each in an executor thread as aiortc's senders run them, over the frames of one shared
#: source (as a peer with three mesh connections sends its camera), for three seconds of fast frames; a forced
#: keyframe now and then, as a receiver's PLI asks. Prints the frames each encoded.
ENCODE_SHARED = textwrap.dedent(
    """
    import asyncio, time
    import numpy as np
    from aiortc.codecs import get_encoder
    from aiortc.rtcrtpparameters import RTCRtpCodecParameters
    from signaling.peer.media import GeneratedVideoTrack, SharedSource

    async def main():
        source = SharedSource(GeneratedVideoTrack(lambda i: np.full((240, 320, 3), i % 255, np.uint8), fps=200))
        codec = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000)
        loop = asyncio.get_running_loop()

        async def send(track, encoder):
            encoded, until = 0, time.monotonic() + 3
            while time.monotonic() < until:
                frame = await track.recv()
                payloads, _ = await loop.run_in_executor(None, encoder.encode, frame, encoded % 10 == 0)
                encoded += bool(payloads)
            return encoded

        print(await asyncio.gather(*(send(source.sender_track(), get_encoder(codec)) for _ in range(3))))
        source.stop()

    asyncio.run(main())
    """
)


def test_one_source_encoded_for_several_connections_at_once() -> None:
    """Each encoder once converted the one shared frame itself, through the frame's one converter, which is not
    thread-safe: the process crashed (SIGSEGV) or hung within seconds."""
    result = subprocess.run(
        [sys.executable, "-c", ENCODE_SHARED], cwd=ROOT, capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    counts = [int(n) for n in result.stdout.strip().strip("[]").split(",")]
    assert len(counts) == 3
    assert all(n > 100 for n in counts), counts  # every connection's encoder kept encoding


def stream_of_frames(count: int, lost: set[int]) -> list[RtpPacket]:
    """A 15 fps video stream of one packet per frame (an SFU's small stream), without the packets ``lost``."""
    packets = []
    for number in range(count):
        if number not in lost:
            packet = RtpPacket(payload_type=96, sequence_number=(65_530 + number) % 65_536, timestamp=number * 6_000)
            packet._data = bytes([number % 256])  # type: ignore[attr-defined]  # as aiortc's depayloader sets it
            packets.append(packet)
    return packets


def test_a_packet_lost_for_good_costs_half_a_second_of_video() -> None:
    """aiortc's own buffer holds everything behind a lost packet until 512 packets came (34 s of this stream);
    ours gives up once it holds MAX_WAIT of media, drops what it holds and asks for a key frame."""
    ours, theirs = TimelyJitterBuffer(), JitterBuffer(capacity=512, is_video=True)
    delivered: dict[str, list[int]] = {"ours": [], "theirs": []}
    asked: list[int] = []
    for packet in stream_of_frames(60, lost={20}):  # 4 s of video, across a sequence number wrap
        for name, buffer in (("ours", ours), ("theirs", theirs)):
            pli, frame = buffer.add(packet)
            if frame is not None:
                delivered[name].append(frame.timestamp // 6_000)
            if pli and name == "ours":
                asked.append(packet.timestamp // 6_000)
    assert delivered["theirs"] == list(range(19))  # nothing after the hole
    assert ours.skipped == 1
    # Frame 19 (complete, waiting for the packet after it) is held from then on: when MAX_WAIT of media is held,
    # it goes, with everything after it, and a key frame is asked for.
    gave_up = 19 + int(MAX_WAIT * 15) + 1
    assert asked == [gave_up]
    # Every frame after that is delivered, in order, with no backlog: the last one, 59, waits for its successor.
    assert delivered["ours"] == [*range(19), *range(gave_up + 1, 59)]


def test_a_late_packet_that_comes_in_time_is_waited_for() -> None:
    """A retransmission within MAX_WAIT fills the hole: nothing is dropped and no key frame is asked for."""
    buffer = TimelyJitterBuffer()
    packets = stream_of_frames(30, lost=set())
    late = packets.pop(10)
    packets.insert(13, late)  # three frames (0.2 s) late
    delivered, asked = [], 0
    for packet in packets:
        pli, frame = buffer.add(packet)
        asked += pli
        if frame is not None:
            delivered.append(frame.timestamp // 6_000)
    # All in order (aiortc hands out one frame a packet: the three that waited for the late one stay behind).
    assert delivered == list(range(26))
    assert buffer.skipped == 0
    assert asked == 0


def test_a_video_receiver_gets_the_timely_buffer_and_an_audio_one_keeps_its_own() -> None:
    from aiortc import RTCRtpReceiver
    from aiortc.rtcdtlstransport import RTCCertificate, RTCDtlsTransport
    from aiortc.rtcicetransport import RTCIceGatherer, RTCIceTransport

    transport = RTCDtlsTransport(RTCIceTransport(RTCIceGatherer()), [RTCCertificate.generateCertificate()])
    video, audio = RTCRtpReceiver("video", transport), RTCRtpReceiver("audio", transport)
    give_up_in_time(video)
    give_up_in_time(audio)
    assert isinstance(video._RTCRtpReceiver__jitter_buffer, TimelyJitterBuffer)  # type: ignore[attr-defined]
    assert not isinstance(audio._RTCRtpReceiver__jitter_buffer, TimelyJitterBuffer)  # type: ignore[attr-defined]


def test_generated_video_is_live_a_frame_asked_for_late_is_the_one_due_now() -> None:
    """A consumer that falls behind (an encoder on a busy machine) gets the frame of now, as from a camera; the
    track once drew every missed frame in a burst to catch up, and a room's publishers flooded it in turns."""
    import asyncio
    import time

    import numpy as np

    from signaling.peer.media import GeneratedVideoTrack

    async def main() -> tuple[list[int], list[float], float]:
        drawn: list[int] = []

        def draw(index: int) -> np.ndarray:
            drawn.append(index)
            return np.zeros((4, 4, 3), np.uint8)

        track = GeneratedVideoTrack(draw, fps=50)
        times = [(await track.recv()).time]
        await asyncio.sleep(0.5)  # the consumer is busy for 25 frames' time
        started = time.monotonic()
        for _ in range(3):
            times.append((await track.recv()).time)
        return drawn, times, time.monotonic() - started

    drawn, times, took = asyncio.run(main())
    assert drawn[0] == 0
    assert drawn[1] >= 25, drawn  # the missed frames were never drawn
    assert drawn[1:] == list(range(drawn[1], drawn[1] + 3))
    assert times[1] >= 0.5 - 0.02  # its time is the time that passed
    assert took >= 1.5 / 50  # and the frames after it come at 50 a second again, not at once
