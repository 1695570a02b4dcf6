"""Simulcast and adaptive video in SFU rooms (issue 23): a page publishes its camera in three VP8 layers, and each
subscriber receives the layer that fits the size its tile is shown at on the demo call page (``sfu-quality``, sent
by ``observeRemoteVideo``), and nothing for a tile that is not shown."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from rtcsite.servers import wait_for_async
from tests.browser.conftest import OpenPage, Site, join, page_opener, peer_id

pytestmark = pytest.mark.sfu_media

#: The page's inbound video of a peer on its subscribing connection: frame size, frames decoded, bytes received.
INBOUND = """async (peer) => {
  const sfu = window.call.sfu;
  let found = null;
  (await sfu.subscriber.getStats()).forEach((r) => {
    if (r.type === 'inbound-rtp' && r.kind === 'video' && sfu.peerOfMid.get(r.mid) === peer)
      found = { height: r.frameHeight ?? 0, frames: r.framesDecoded ?? 0, bytes: r.bytesReceived ?? 0 };
  });
  return found;
}"""


#: The frame heights of the simulcast layers the page sends now (those with frames going out); null until two.
LAYERS_SENT = """async () => {
  const heights = [];
  (await window.call.sfu.publisher.getStats()).forEach((r) => {
    const sending = r.type === 'outbound-rtp' && r.kind === 'video' && r.frameHeight && r.framesSent > 0;
    if (sending) heights.push(r.frameHeight);
  });
  return heights.length >= 2 ? heights : null;
}"""


@pytest.fixture
def open_page(browser: Browser, sfu_site: Site, request: pytest.FixtureRequest) -> Iterator[OpenPage]:
    yield from page_opener(browser, sfu_site.url, request)


def size_tile(page: Page, peer: str, css: str) -> None:
    """Show ``peer``'s tile on the page as ``css`` says (its width and height, or display: none)."""
    page.evaluate(
        """([peer, css]) => {
          const tile = document.querySelector(`.tile.remote[data-peer="${peer}"]`);
          tile.style.cssText = css;
        }""",
        [peer, css],
    )


def inbound(page: Page, peer: str) -> dict[str, Any]:
    found = page.evaluate(INBOUND, peer)
    assert found is not None, "no inbound video of the peer"
    return dict(found)


def settles_at(page: Page, peer: str, test: str, polls: int = 5) -> dict[str, Any]:
    """Wait until the page's inbound video of ``peer`` passes ``test`` (a JS expression of ``v``, and of ``last``:
    the poll before, 50 ms earlier) in ``polls`` polls in a row."""
    page.evaluate("() => { window.steady = 0; window.lastInbound = null; }")
    try:
        wait_until_inbound(page, peer, test, polls)
    except AssertionError:
        raise AssertionError(f"{test} not met; the last inbound video: {inbound(page, peer)}") from None
    return inbound(page, peer)


def wait_until_inbound(page: Page, peer: str, test: str, polls: int) -> None:
    wait_for_async(
        page,
        f"""async (peer) => {{
          const v = await ({INBOUND})(peer);
          const last = window.lastInbound;
          window.lastInbound = v;
          if (!v || !last || !({test})) {{ window.steady = 0; return false; }}
          window.steady += 1;
          return window.steady >= {polls};
        }}""",
        peer,
        timeout=30,
    )


def publisher_and_viewer(open_page: OpenPage, sfu_site: Site, room_id: str) -> tuple[Page, Page, str]:
    """Two demo call pages in a new SFU room: the publisher, the viewer (showing the publisher's tile), and the
    publisher's peer id."""
    sfu_site.create_room(room_id, max_peers=4, topology="sfu")
    publisher, viewer = open_page(f"/call/{room_id}/"), open_page(f"/call/{room_id}/")
    for page in (publisher, viewer):
        join(page)
        page.wait_for_function("window.call.peerId !== null")
    them = peer_id(publisher)
    viewer.wait_for_function('(peer) => document.querySelector(`.tile.remote[data-peer="${peer}"]`) !== null', arg=them)
    return publisher, viewer, them


def test_a_small_tile_gets_the_low_layer_a_big_one_the_high_and_a_hidden_one_no_video(
    open_page: OpenPage, sfu_site: Site, room_id: str
) -> None:
    publisher, viewer, them = publisher_and_viewer(open_page, sfu_site, room_id)
    # The publisher sends layers: its video sender has three encodings.
    encodings = publisher.evaluate("window.call.sfu.sender('video').getParameters().encodings.map((e) => e.rid)")
    assert encodings == ["h", "m", "l"]

    size_tile(viewer, them, "width: 960px !important; height: 720px !important; flex: none")
    big = settles_at(viewer, them, "v.height >= 360")
    # Chromium sends as many of the layers as the camera's size allows (two of 640x480: 480 and 240 high).
    layers = sorted(wait_for_async(publisher, LAYERS_SENT))
    assert len(layers) >= 2, layers
    assert big["height"] == layers[-1]
    size_tile(viewer, them, "width: 120px !important; height: 90px !important; flex: none")
    small = settles_at(viewer, them, f"v.height === {layers[0]}")
    print(f"layers sent: {layers}; frame height received: big tile {big['height']}, small tile {small['height']}")

    size_tile(viewer, them, "display: none")
    # The video stops: no frame decoded for a second (20 polls).
    before = settles_at(viewer, them, "v.frames === last.frames", polls=20)
    viewer.wait_for_timeout(2000)  # a span with the tile hidden: what arrives in it is what is measured
    after = inbound(viewer, them)
    assert after["frames"] == before["frames"], (before, after)
    assert after["bytes"] - before["bytes"] < 2000, (before, after)  # no video (at most a packet in flight)

    size_tile(viewer, them, "")
    settles_at(viewer, them, f"v.frames > {after['frames'] + 10}")


def test_a_layer_that_goes_quiet_when_the_publishers_picture_shrinks_gives_way_to_the_top_one(
    open_page: OpenPage, sfu_site: Site, room_id: str
) -> None:
    """The publisher's camera drops to 160x120 (as CPU adaptation or a smaller camera does): its encoder sheds the
    lower layers, the one the subscriber's medium tile was getting among them, and the SFU does not go up by itself.
    The subscriber finds its video quiet and asks for the top layer: the video goes on."""
    publisher, viewer, them = publisher_and_viewer(open_page, sfu_site, room_id)
    size_tile(viewer, them, "width: 360px !important; height: 270px !important; flex: none")
    medium = settles_at(viewer, them, "v.height === 240")
    publisher.evaluate(
        "window.call.localStream.getVideoTracks()[0].applyConstraints({ width: 160, height: 120, frameRate: 15 })"
    )
    # Frames keep coming, at the only size still sent.
    after = settles_at(viewer, them, "v.height === 120")
    settles_at(viewer, them, f"v.frames > {after['frames'] + 15}")
    assert after["frames"] > medium["frames"]
    assert viewer.evaluate("(peer) => window.call.sfu.toldQualities.get(peer)", them) == "high"
