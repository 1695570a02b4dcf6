"""The Python peer in an SFU room (issue 21): three of them against daphne and a real Janus. Each receives the
others' video as tracks of their peer ids (``TrackReceived``), through its one subscribing connection; data goes
through the server, a directed message to its target only."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from signaling.peer import DataChannelMessage, GeneratedAudioTrack, GeneratedVideoTrack, TrackReceived, WebRTCCall
from signaling.peer.media import tone
from tests.browser.conftest import Site

pytestmark = pytest.mark.sfu_media


def shade(value: int) -> GeneratedVideoTrack:
    return GeneratedVideoTrack(lambda index: np.full((90, 120, 3), value, np.uint8), fps=15)


async def test_python_peers_in_an_sfu_room(sfu_site: Site) -> None:
    room_id = "python-sfu"
    await asyncio.to_thread(sfu_site.create_room, room_id, 8, "sfu")
    url = sfu_site.daphne.ws_url + "/api/call/signal"
    calls = [
        WebRTCCall(url, room_id, tracks=[shade(70 * (i + 1)), GeneratedAudioTrack(tone())], data_channels=["chat"])
        for i in range(3)
    ]
    frames: list[dict[str, int]] = [{} for _ in calls]
    audio: list[dict[str, int]] = [{} for _ in calls]
    shades: list[dict[str, float]] = [{} for _ in calls]
    received: list[list[tuple[str, str, str | bytes]]] = [[] for _ in calls]

    def watch(index: int, call: WebRTCCall) -> None:
        async def count(event: TrackReceived) -> None:
            if event.track.kind == "audio":
                while True:
                    await event.track.recv()
                    audio[index][event.peer_id] = audio[index].get(event.peer_id, 0) + 1
            while True:
                frame = await event.track.recv()
                frames[index][event.peer_id] = frames[index].get(event.peer_id, 0) + 1
                shades[index][event.peer_id] = float(frame.to_ndarray(format="rgb24").mean())

        call.on(TrackReceived, count)
        call.on(DataChannelMessage, lambda e: received[index].append((e.peer_id, e.label, e.data)))

    try:
        for index, call in enumerate(calls):
            watch(index, call)
            await call.connect()
        ids = [call.peer_id for call in calls]
        assert all(call._sfu is not None and not call._links for call in calls)
        # Every peer's video and every peer's audio on a track of its own (each stream named by its peer).
        async with asyncio.timeout(30):
            while not all(
                all(frames[i].get(other, 0) >= 10 and audio[i].get(other, 0) >= 25 for other in ids if other != ids[i])
                for i in range(len(calls))
            ):
                await asyncio.sleep(0.1)
        for i in range(len(calls)):
            for j, other in enumerate(ids):
                if j != i:
                    assert abs(shades[i][other] - 70 * (j + 1)) < 12, shades[i]

        assert calls[0].send_string_to(ids[1] or "", "chat", "only for you") is True
        assert calls[0].send_binary("chat", b"\x01\x02") == 2
        async with asyncio.timeout(10):
            while len(received[1]) < 2 or len(received[2]) < 1:
                await asyncio.sleep(0.05)
        assert received[1] == [(ids[0], "chat", "only for you"), (ids[0], "chat", b"\x01\x02")]
        assert received[2] == [(ids[0], "chat", b"\x01\x02")]
        assert received[0] == []
    finally:
        for call in calls:
            await call.hangup()
