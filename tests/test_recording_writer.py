"""A recording's file when the peer's media comes from a new sender midway (``PeerStreamWriter.sender``): after an
SFU node move or a re-publish, a new connection brings a new RTP clock and frames that do not decode with the last
sender's. The file must go on in time from where it was, and play."""

from __future__ import annotations

import fractions
from pathlib import Path

import av
import numpy as np

from signaling.peer.recording import PeerStreamWriter

FPS = 15
TICKS = 90000 // FPS


class Clock:
    """The arrival time the writer sees, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def vp8_frames(count: int) -> list[bytes]:
    """``count`` VP8 frames of a moving picture: a key frame first, then inter frames only."""
    encoder = av.CodecContext.create("libvpx", "w")
    encoder.width, encoder.height, encoder.pix_fmt = 160, 120, "yuv420p"
    encoder.time_base = fractions.Fraction(1, FPS)
    encoder.gop_size = 10 * count
    encoder.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    packets = []
    for index in range(count):
        picture = np.full((120, 160, 3), 40, np.uint8)
        picture[:, (4 * index) % 160] = 250
        frame = av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(format="yuv420p")
        frame.pts = index
        packets += [bytes(packet) for packet in encoder.encode(frame)]
    packets += [bytes(packet) for packet in encoder.encode(None)]
    return packets[:count]


def play(path: Path) -> list[float]:
    """When each video frame of the file plays (s), of those that decode."""
    with av.open(str(path)) as container:
        return [float(frame.time) for frame in container.decode(video=0)]


def test_a_new_sender_goes_on_where_the_last_one_stopped_after_its_key_frame(tmp_path: Path) -> None:
    clock = Clock()
    writer = PeerStreamWriter("peer-a", tmp_path / "peer-a.webm", expects_video=True, clock=clock)
    first = writer.sender("video")
    for index, data in enumerate(vp8_frames(30)):  # two seconds from the first sender, its clock far from 0
        first("VP8", data, 3_000_000_000 + index * TICKS)
        clock.now += 1 / FPS

    clock.now += 1.5  # the move: a second and a half with nothing
    second = writer.sender("video")
    frames = vp8_frames(31)
    # A new sender's clock starts anywhere (here, below the last one's): its inter frame before its key frame
    # cannot be decoded, and is left out.
    second("VP8", frames[5], 7 * TICKS)
    clock.now += 1 / FPS
    for index, data in enumerate(frames[:30]):
        second("VP8", data, 8 * TICKS + index * TICKS)
        if index == 3:
            # The last of the replaced connection, on its old clock: not the new sender's, left out.
            first("VP8", vp8_frames(1)[0], 3_000_000_000 + 30 * TICKS)
        clock.now += 1 / FPS
    stream = writer.close()

    assert stream is not None
    assert stream.video_frames == 60, stream
    times = play(stream.path)
    assert len(times) == 60
    assert times == sorted(times)
    gaps = np.diff(times)
    # Each sender's frames are 1/15 s apart; between them, the time nothing came.
    assert np.allclose(np.delete(gaps, 29), 1 / FPS, atol=0.002), gaps
    assert abs(gaps[29] - (1 / FPS + 1.5 + 1 / FPS)) < 0.01, gaps[29]
    assert abs(stream.duration - (times[-1] - times[0])) < 0.01


def test_one_sender_keeps_its_own_clock(tmp_path: Path) -> None:
    """The usual case, unchanged: the file's times are the sender's RTP times, whatever the arrival jitter."""
    clock = Clock()
    writer = PeerStreamWriter("peer-b", tmp_path / "peer-b.webm", expects_video=True, clock=clock)
    deliver = writer.sender("video")
    for index, data in enumerate(vp8_frames(20)):
        deliver("VP8", data, 12345 + index * TICKS)
        clock.now += (0.2 if index % 2 else 0.0) + 0.01  # bursts and waits
    stream = writer.close()
    assert stream is not None
    times = play(stream.path)
    assert len(times) == 20
    assert np.allclose(np.diff(times), 1 / FPS, atol=0.002)
