"""The browser client in an SFU room (issue 21): Chromium pages on the demo call page and Python peers, their media
through a real Janus. A room of eight: each participant decodes every other one's video and receives its audio
(keyed by peer id, from its one subscribing connection, while it sends its own once), data goes through the server
(a directed message reaches its target only), and every other participant sees one leave, one mute, one share its
screen, one reconnect under its peer id and one be kicked. Then ``record_call`` records an SFU room."""

from __future__ import annotations

import asyncio
import functools
import io
import json
import time
from collections.abc import Callable, Iterator

import av
import numpy as np
import pytest
from playwright.sync_api import Browser, Page

from rtcsite.servers import wait_for_async
from tests.browser.conftest import OpenPage, Site, join, page_opener, peer_id, record_messages, recorder_output
from tests.browser.python_peer import CountingPeer, EventLoopThread

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


MODERATOR = ("sfu-moderator", "sfu-password")
#: Chromium pages of the room of eight; a Python peer makes up the rest.
PAGES = 7
SMALL = "{ width: 160, height: 120, frameRate: 15 }"
#: What a page has received of each peer on its subscribing connection, as {"<peer> video": decoded frames,
#: "<peer> audio": packets}.
RECEIVED = """async () => {
  const sfu = window.call.sfu;
  const received = {};
  (await sfu.subscriber.getStats()).forEach((report) => {
    const peer = report.type === 'inbound-rtp' ? sfu.peerOfMid.get(report.mid) : undefined;
    if (peer) received[`${peer} ${report.kind}`] = report.framesDecoded ?? report.packetsReceived;
  });
  return received;
}"""
#: Whether a page decodes video frames and receives audio of each of the peers it is given.
RECEIVES = f"""async (others) => {{
  const received = await ({RECEIVED})();
  return others.every((peer) => received[`${{peer}} video`] >= 5 && received[`${{peer}} audio`] > 0);
}}"""


def video_goes_on(page: Page, peer: str) -> None:
    """Wait until ``page`` decodes ten more frames of ``peer``'s video than it had."""
    decoded = f"async () => (await ({RECEIVED})())[{peer!r} + ' video'] ?? 0"
    before = page.evaluate(decoded)
    wait_for_async(page, f"async (before) => (await ({decoded})()) >= before + 10", before)


async def eventually(condition: Callable[[], bool], timeout: float = 30, state: Callable[[], object] = str) -> None:
    """Wait on the Python peers' loop for ``condition`` about them; a timeout reports ``state()``."""
    try:
        async with asyncio.timeout(timeout):
            while not condition():
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"timed out: {state()}") from None


# Fifty steps, each waiting on eight participants on two cores: the suite's 120 s would cut it short on a slow day.
@pytest.mark.timeout(300)
def test_an_sfu_room_of_eight(open_page: OpenPage, sfu_site: Site, room_id: str, peer_loop: EventLoopThread) -> None:
    """Seven Chromium pages and a Python peer in one SFU room: each receives every other one's video and audio, a
    broadcast reaches all and a directed message its target only; then one leaves, one mutes, one shares its
    screen, one reconnects and one is kicked, and every other participant sees each of these; a viewer joins and
    watches them all."""
    sfu_site.create_room(room_id, max_peers=10, topology="sfu")
    sfu_site.create_superuser(*MODERATOR)
    pages = [open_page(f"/call/{room_id}/") for _ in range(PAGES)]
    for page in pages:
        join(page)
        page.wait_for_function("window.call.peerId !== null")
        record_messages(page)
        # Small pictures, as the Python peers send: eight participants' video has to fit this 2-core machine.
        page.evaluate(f"window.call.localStream.getVideoTracks()[0].applyConstraints({SMALL})")
    page_ids = [peer_id(page) for page in pages]

    def until(condition: Callable[[], bool], state: Callable[[], object] = str) -> None:
        peer_loop.run(eventually(condition, 30, state), 35)

    url = sfu_site.daphne.ws_url + "/api/call/signal"
    peers = [peer_loop.run(CountingPeer.make(url, room_id, 60 * (i + 1))) for i in range(8 - PAGES)]
    for peer in peers:
        peer_loop.run(peer.call.connect())
    assert all(peer.call._sfu is not None and not peer.call._links for peer in peers)  # only with the SFU

    peer_ids = [peer.peer_id for peer in peers]
    everyone = page_ids + peer_ids
    for page, own in zip(pages, page_ids, strict=True):
        page.wait_for_function("(n) => window.call.remotePeerIds.length === n && window.call.sfu !== null", arg=7)
        assert sorted(page.evaluate("window.call.remotePeerIds")) == sorted(set(everyone) - {own})
        assert page.evaluate("window.call.links.size") == 0  # no connection with any peer: only with the SFU
        assert page.evaluate("window.call.sfu.publisher.getSenders().filter((s) => s.track).length") == 2

    # Every participant decodes every other one's video and receives its audio.
    for page, own in zip(pages, page_ids, strict=True):
        wait_for_async(page, RECEIVES, sorted(set(everyone) - {own}))
    for peer in peers:
        receives = functools.partial(peer_receives, peer, set(everyone) - {peer.peer_id})
        until(receives, state=functools.partial(lambda p: (p.video, p.audio), peer))
    for page in pages:
        page.wait_for_function("window.call.state === 'connected'")

    # Every peer's quality summary, from the one subscriber connection: each its own streams' (the Python peer's
    # picture is 120 wide; a page's 160, or a simulcast layer of it: 80, 40), and the path to the SFU.
    widths = {own: {160, 80, 40} for own in page_ids} | {peer.peer_id: {120} for peer in peers}
    summaries = pages[0].evaluate("async () => Object.fromEntries(await window.call.getAllQualitySummaries())")
    assert sorted(summaries) == sorted(set(everyone) - {page_ids[0]})
    for other, summary in summaries.items():
        assert summary["video"]["frameWidth"] in widths[other], (other, summary)
        assert summary["candidatePair"]["usingRelay"] is False
    # (A tile out of the page's sight, below its fold, may receive nothing: no one peer's bitrate need be above 0.)
    assert sum(summary["bitrate"]["video"]["inbound"] for summary in summaries.values()) > 0, summaries

    # Data goes through the server: a directed message to its target alone, a broadcast to everyone else.
    (a,) = peers
    pages[0].evaluate(f"window.call.sendStringTo({a.peer_id!r}, 'chat', 'for you only')")
    pages[1].evaluate("window.call.sendString('chat', 'to everyone')")
    until(lambda: len(a.received) == 2)
    for page, own in zip(pages, page_ids, strict=True):
        if own != page_ids[1]:
            page.wait_for_function("window.received.length === 1")
            assert page.evaluate("window.received") == [[page_ids[1], "chat", "to everyone"]]
    assert sorted(a.received) == sorted([(page_ids[0], "chat", "for you only"), (page_ids[1], "chat", "to everyone")])
    assert pages[1].evaluate("window.received") == []

    # The Python peer asks for none of one page's video (sfu-quality off), then for it again: it stops, comes back.
    quiet = page_ids[0]

    async def want(quality: str) -> None:  # on the peer's loop, as everything of the call
        a.call.set_remote_video_quality(quiet, quality)

    with pytest.raises(ValueError, match="quality must be one of high, medium, low, off"):
        peer_loop.run(want("ultra"))
    peer_loop.run(want("off"))
    other = page_ids[1]
    others_from = a.video[other]
    until(lambda: a.video[other] >= others_from + 15, state=lambda: a.video)  # what was on its way has come
    stopped_at = a.video[quiet]
    until(lambda: a.video[other] >= others_from + 45, state=lambda: a.video)  # two seconds more of the others'
    assert a.video[quiet] == stopped_at, a.video  # and none of its
    peer_loop.run(want("high"))
    resumed_from = a.video[quiet]
    until(lambda: a.video[quiet] >= resumed_from + 10, state=lambda: a.video)

    # From here on, every page keeps who left and why.
    for page in pages:
        page.evaluate(LEAVES)

    # One leaves: everyone else sees it go, with its stream.
    leaver, pages = pages[-1], pages[:-1]
    gone = peer_id(leaver)
    leaver.evaluate("window.call.hangup()")
    for page in pages:
        page.wait_for_function(
            "(id) => !window.call.remotePeerIds.includes(id) && !window.call.remoteStreams.has(id)", arg=gone
        )
        assert page.evaluate("window.left") == [[gone, "leave"]]
    until(lambda: a.left.get(gone) == "leave")

    # One mutes, one shares its screen: everyone else sees it.
    muted, sharing = page_ids[0], page_ids[1]
    pages[0].evaluate("window.call.muteAudio(true)")
    pages[1].click("#share")  # a user gesture, which getDisplayMedia requires
    pages[1].wait_for_function("window.call.isScreenSharing")
    pages[1].evaluate(f"window.call.screenStream.getVideoTracks()[0].applyConstraints({SMALL})")
    for page, own in zip(pages, page_ids, strict=False):
        if own != muted:
            page.wait_for_function("(id) => window.call.peerMedia.get(id)?.audio === false", arg=muted)
        if own != sharing:
            page.wait_for_function("(id) => window.call.peerMedia.get(id)?.screen === true", arg=sharing)
    until(lambda: all(p.call.peer_media.get(muted, {}).get("audio") is False for p in peers))
    until(lambda: all(p.call.peer_media.get(sharing, {}).get("screen") is True for p in peers))
    # The screen reaches them in place of the camera: more of its frames decode.
    video_goes_on(pages[0], sharing)

    # One reconnects (its socket drops): it comes back under its peer id, nobody sees it leave, its video goes on.
    back = page_ids[2]
    pages[2].evaluate(
        "window.keptSfu = window.call.sfu; window.dropped = window.call.connection.socket; "
        "window.dropped.socket.close(4000)"
    )
    pages[2].wait_for_function(
        "window.call.connection.socket !== window.dropped && window.call.connection.state === 'joined'"
    )
    assert peer_id(pages[2]) == back
    assert pages[2].evaluate("window.call.sfu === window.keptSfu")  # its connections with the SFU lived on
    video_goes_on(pages[0], back)

    # One is kicked: everyone else sees it go, kicked; and nobody saw the reconnecting page go.
    kicked_page, pages = pages[-1], pages[:-1]
    kicked = peer_id(kicked_page)
    sfu_site.kick(room_id, kicked, MODERATOR)
    try:
        kicked_page.wait_for_function("window.call.state === 'idle'")
    except Exception:  # what the page is at, to tell why
        raise AssertionError(kicked_page.evaluate(CALL_STATE)) from None
    assert kicked_page.evaluate("window.call.error?.code") == "kicked"
    until(lambda: a.left.get(kicked) == "kicked")
    for page, own in zip(pages, page_ids, strict=False):
        page.wait_for_function("(id) => !window.call.remotePeerIds.includes(id)", arg=kicked)
        assert page.evaluate("window.left") == [[gone, "leave"], [kicked, "kicked"]], own
    assert a.left == {gone: "leave", kicked: "kicked"}

    # A viewer (a token of that role, from the REST API): it watches everyone, and nobody receives anything of it.
    token = sfu_site.post_api(f"/api/rooms/{room_id}/token", {"role": "viewer"}, MODERATOR)
    viewer = open_page(f"/call/{room_id}/")
    viewer.evaluate(
        "(token) => window.call.setOptions({ ...window.call.options, signalUrl: "
        "`${window.call.options.signalUrl}?token=${encodeURIComponent(token)}` })",
        token["token"],
    )
    join(viewer)
    viewer.wait_for_function("window.call.role === 'viewer' && window.call.remotePeerIds.length === 6")
    v = peer_id(viewer)
    wait_for_async(viewer, RECEIVES, [*page_ids[:5], a.peer_id])
    assert viewer.evaluate("window.call.sfu.publisher.getTransceivers().length") == 0
    for page in pages:
        page.wait_for_function("(id) => window.call.peerRoles.get(id) === 'viewer'", arg=v)
    assert viewer.evaluate("window.call.error") is None
    assert v not in a.video
    assert not any(page.evaluate("(id) => window.call.remoteStreams.has(id)", v) for page in pages)
    peer_loop.run(a.call.hangup())

    # Janus's events are in the room's lifecycle log, per peer and connection: every participant's audio and video
    # reached Janus, and its subscription came up (the viewer's too).
    def logged() -> set[tuple[str, str, str, str]]:
        page = sfu_site.post_api(f"/api/rooms/{room_id}/events?kind=sfu_media&page_size=500", None, MODERATOR)
        return {
            (e["peer_id"], e["detail"]["connection"], e["detail"]["event"], e["detail"]["media"])
            for e in page["results"]
        }

    expected = {(peer, "publisher", "media-up", kind) for peer in everyone for kind in ("audio", "video")}
    expected |= {(peer, "subscriber", "media-up", "") for peer in [*everyone, v]}
    deadline = time.monotonic() + 15
    while not expected <= logged() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert expected - logged() == set()


#: Where a page's call is at (for a failure's message).
CALL_STATE = """JSON.stringify({
  peerId: window.call.peerId, state: window.call.state, error: window.call.error?.message,
  connection: window.call.connection?.state,
  socket: window.call.connection?.socket?.socket?.readyState, peers: window.call.remotePeerIds.length,
})"""
#: Keep each peer that leaves a page's call, with why, in window.left.
LEAVES = """() => {
  window.left = [];
  const callbacks = window.call.options.callbacks ?? {};
  window.call.setOptions({ ...window.call.options, callbacks: { ...callbacks,
    onPeerLeft: (peer, reason) => { window.left.push([peer, reason]); callbacks.onPeerLeft?.(peer, reason); } } });
}"""


def peer_receives(peer: CountingPeer, others: set[str]) -> bool:
    return all(peer.video.get(o, 0) >= 10 and peer.audio.get(o, 0) >= 25 for o in others)


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
    with sfu_site.record_call(room_id) as recorder:
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
        output = recorder_output(recorder)
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
