"""The browser client in an SFU room (issue 21): Chromium pages on the demo call page, their media through a real
Janus. Each page decodes every other page's video (keyed by peer id, from the one subscriber connection), hears
who mutes, gets data through the server (a directed message reaches its target only), and sees a page that leaves
go; each page sends its video once (one publishing connection), whatever the size of the room."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from rtcsite.servers import JanusProcess
from tests.browser.conftest import OpenPage, Site, join, page_opener, peer_id, record_messages, serve_site


@pytest.fixture(scope="module")
def janus() -> Iterator[JanusProcess]:
    with JanusProcess() as process:
        yield process


@pytest.fixture(scope="module")
def sfu_site(janus: JanusProcess) -> Iterator[Site]:
    settings = {"SFU_JANUS_URL": janus.url, "SFU_API_SECRET": janus.api_secret, "SFU_ADMIN_KEY": janus.admin_key}
    with serve_site({"SIGNALING_SETTINGS": json.dumps(settings)}) as site:
        yield site


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

    # A mute is seen by the others; a page that leaves is gone from theirs, with its stream.
    pages[0].evaluate("window.call.muteAudio(true)")
    for page in pages[1:]:
        page.wait_for_function("(id) => window.call.peerMedia.get(id)?.audio === false", arg=ids[0])
    pages[2].evaluate("window.call.hangup()")
    for page in pages[:2]:
        page.wait_for_function(
            "(id) => !window.call.remotePeerIds.includes(id) && !window.call.remoteStreams.has(id)", arg=ids[2]
        )
    summary = pages[0].evaluate(f"window.call.getQualitySummary({ids[1]!r})")
    assert summary["bitrate"]["video"]["inbound"] > 0
