"""The Python peer's local media (``signaling.peer.media``): one source sent to several connections, each with an
encoder of its own in a thread of its own, as aiortc encodes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

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
