"""The browser client in an SFU room (issue 21): Chromium pages on the demo call page, their media through a real
Janus. Each page decodes every other page's video (keyed by peer id, from the one subscriber connection), hears
who mutes, gets data through the server (a directed message reaches its target only), and sees a page that leaves
go; each page sends its video once (one publishing connection), whatever the size of the room."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator

import av
import numpy as np
import pytest
from playwright.sync_api import Browser, Page

from tests.browser.conftest import OpenPage, Site, join, page_opener, peer_id, record_messages

pytestmark = pytest.mark.sfu_media


@pytest.fixture
def open_page(browser: Browser, sfu_site: Site, request: pytest.FixtureRequest) -> Iterator[OpenPage]:
    yield from page_opener(browser, sfu_site.url, request)


def frames_of(page: Page, remote: str) -> int:
    """How many frames of ``remote``'s video the page decodes (in a <video> of the test's own), once it has 5."""
    frames: int = page.evaluate(
        """async (id) => {
          const deadline = performance.now() + 20000;
          while (!window.call.remoteStreams.get(id)?.getVideoTracks().length && performance.now() < deadline)
            await new Promise((r) => setTimeout(r, 50));
          const video = document.createElement('video');
          video.muted = true; video.srcObject = window.call.remoteStreams.get(id) ?? null; document.body.append(video);
          await video.play().catch(() => {});
          while (video.getVideoPlaybackQuality().totalVideoFrames < 5 && performance.now() < deadline)
            await new Promise((r) => setTimeout(r, 50));
          const frames = video.getVideoPlaybackQuality().totalVideoFrames;
          video.remove();
          return frames;
        }""",
        remote,
    )
    return frames


def test_an_sfu_room_of_browsers(open_page: OpenPage, sfu_site: Site, room_id: str) -> None:
    sfu_site.create_room(room_id, max_peers=8, topology="sfu")
    pages = [open_page(f"/call/{room_id}/") for _ in range(3)]
    for page in pages:
        join(page)
        page.wait_for_function("window.call.peerId !== null")
        record_messages(page)
    ids = [peer_id(page) for page in pages]
    for page in pages:
        page.wait_for_function("window.call.remotePeerIds.length === 2 && window.call.sfu !== null")
        assert page.evaluate("window.call.links.size") == 0  # no connection with any peer: only with the SFU
        assert page.evaluate("window.call.sfu.publisher.getSenders().filter((s) => s.track).length") == 2

    for page, own in zip(pages, ids, strict=True):
        for other in ids:
            if other != own:
                assert frames_of(page, other) >= 5, f"{own} decodes no video of {other}"
        page.wait_for_function("window.call.state === 'connected'")

    # Data goes through the server: to its target alone, or to everyone else.
    pages[0].evaluate(f"window.call.sendStringTo({ids[1]!r}, 'chat', 'for you only')")
    pages[0].evaluate("window.call.sendBinary('chat', new Uint8Array([7, 8, 9]).buffer)")
    pages[1].wait_for_function("window.received.length === 2")
    pages[2].wait_for_function("window.received.length === 1")
    assert pages[1].evaluate("window.received") == [[ids[0], "chat", "for you only"], [ids[0], "chat", [7, 8, 9]]]
    assert pages[2].evaluate("window.received") == [[ids[0], "chat", [7, 8, 9]]]
    assert pages[0].evaluate("window.received") == []
    assert pages[1].evaluate(f"window.call.getDataChannelState({ids[0]!r}, 'chat')") == "open"

    # The quality of what reaches us of one peer, from its streams on the one subscribing connection.
    pages[0].evaluate(f"window.call.getQualitySummary({ids[1]!r})")
    summary = pages[0].evaluate(f"window.call.getQualitySummary({ids[1]!r})")
    assert summary["bitrate"]["video"]["inbound"] > 0, summary
    assert summary["video"]["frameWidth"] > 0, summary

    # A mute is seen by the others; a page that leaves is gone from theirs, with its stream.
    pages[0].evaluate("window.call.muteAudio(true)")
    for page in pages[1:]:
        page.wait_for_function("(id) => window.call.peerMedia.get(id)?.audio === false", arg=ids[0])
    pages[2].evaluate("window.call.hangup()")
    for page in pages[:2]:
        page.wait_for_function(
            "(id) => !window.call.remotePeerIds.includes(id) && !window.call.remoteStreams.has(id)", arg=ids[2]
        )


def test_record_call_records_every_participant_of_an_sfu_room(
    open_page: OpenPage, sfu_site: Site, room_id: str
) -> None:
    """The recorder is a Python peer that publishes nothing: it subscribes to every participant through the SFU and
    saves one recording each, complete, video and audio, as long as the call."""
    from tests.browser.test_server_recording import api

    sfu_site.create_room(room_id, max_peers=8, topology="sfu")
    sfu_site.create_superuser("recording-admin", "recording-password")
    pages = [open_page(f"/call/{room_id}/") for _ in range(3)]
    for page in pages:
        join(page)
    for page in pages:
        page.wait_for_function("window.call.remotePeerIds.length === 2 && window.call.remoteStreams.size === 2")
    recorder = sfu_site.start_record_call(room_id)
    try:
        # The recorder records from its join (the first page to show it) to each page's hang-up.
        pages[0].wait_for_function("window.call.peerRoles.size > 0", timeout=30000, polling=20)
        started = time.monotonic()
        for page in pages:
            page.locator("#recording-indicator").wait_for(state="visible", timeout=30000)
        time.sleep(8)
        ids = [peer_id(page) for page in pages]
        lengths = {}
        for page, own in zip(pages, ids, strict=True):
            page.click("#hangup")
            lengths[own] = time.monotonic() - started
        output, _ = recorder.communicate(timeout=60)
        assert recorder.returncode == 0, output
    finally:
        if recorder.poll() is None:
            recorder.kill()
    listed = json.loads(api(sfu_site, f"/api/recordings/?room={room_id}"))["results"]
    assert {item["stream_id"] for item in listed} == set(ids), output
    for item in listed:
        assert item["status"] == "complete"
        length = lengths[item["stream_id"]]
        assert abs(item["duration"] - length) <= 0.1 * length, (item["duration"], lengths, output)
        data = api(sfu_site, f"/api/recordings/{item['id']}/download")
        assert list(av.open(io.BytesIO(data)).decode(video=0))
        audio = np.concatenate([f.to_ndarray().ravel() for f in av.open(io.BytesIO(data)).decode(audio=0)])
        assert audio.size > 48000
