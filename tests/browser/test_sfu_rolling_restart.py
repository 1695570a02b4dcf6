"""An SFU call of three Chromium pages while both workers behind nginx are restarted, one after the other, with
SIGTERM (a rolling deploy, Redis registry): each page's Janus session is handed on with its parked place and taken
over by the worker it comes back to, so the pages keep their peer ids and their two connections with Janus, nobody
sees anybody leave, and the video each page decodes never stops for more than a second."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page

from rtcsite.servers import (
    ROOT,
    DaphneProcess,
    JanusProcess,
    NginxProcess,
    wait_for_async,
)
from tests.browser.conftest import OpenPage, join, peer_id
from tests.browser.test_mesh_and_reconnect import RECORD_EVENTS
from tests.browser.test_rolling_restart import DRAIN_SECONDS, restart, serve_workers_behind_nginx

pytestmark = pytest.mark.sfu_media


#: Every 100 ms, the frames each remote video of the page's subscribing connection has decoded: the longest time
#: any of them went without a new frame (ms, per mid) is `window.longestStall`; `window.steadySince`, since when
#: none went 300 ms without one. (A call's first seconds have stalls of their own, the sender's encoder adapting
#: to the bandwidth it finds: the restarts begin once every page has had 3 steady seconds.)
WATCH_FRAMES = """() => {
  window.longestStall = {};
  window.steadySince = performance.now();
  const last = {};
  window.frameWatch = setInterval(async () => {
    const pc = window.call.sfu?.subscriber;
    if (!pc) return;
    const now = performance.now();
    (await pc.getStats()).forEach((r) => {
      if (r.type !== 'inbound-rtp' || r.kind !== 'video') return;
      const seen = last[r.mid];
      if (!seen || r.framesDecoded > seen.frames) last[r.mid] = { frames: r.framesDecoded, at: now };
      const stall = now - last[r.mid].at;
      if (seen) window.longestStall[r.mid] = Math.max(window.longestStall[r.mid] ?? 0, stall);
      if (stall > 300) window.steadySince = now;
    });
  }, 100);
}"""


@pytest.fixture(scope="module")
def sfu_workers_behind_nginx() -> Iterator[tuple[list[DaphneProcess], NginxProcess, dict[str, str]]]:
    with JanusProcess() as janus:
        settings = {
            "DRAIN_SECONDS": DRAIN_SECONDS,
            "SFU_JANUS_URL": janus.url,
            "SFU_API_SECRET": janus.api_secret,
            "SFU_ADMIN_KEY": janus.admin_key,
        }
        with serve_workers_behind_nginx(2, settings) as served:
            yield served
        print(f"--- janus\n{janus.log()[-3000:]}")


def decodes_everyone(page: Page, count: int) -> None:
    """Wait until the page's subscribing connection decodes video of ``count`` peers."""
    wait_for_async(
        page,
        """async (count) => {
          const pc = window.call.sfu?.subscriber;
          if (!pc) return false;
          let playing = 0;
          (await pc.getStats()).forEach((r) => {
            if (r.type === 'inbound-rtp' && r.kind === 'video' && r.framesDecoded > 10) playing += 1;
          });
          return playing >= count;
        }""",
        count,
    )


def test_an_sfu_call_survives_a_rolling_restart_of_both_workers(
    open_page: OpenPage,
    sfu_workers_behind_nginx: tuple[list[DaphneProcess], NginxProcess, dict[str, str]],
    room_id: str,
) -> None:
    workers, nginx, manage_env = sfu_workers_behind_nginx
    create = f"from rooms.models import Room; Room.objects.create(id={room_id!r}, topology='sfu')"
    subprocess.run([sys.executable, "manage.py", "shell", "-c", create], cwd=ROOT, check=True, env=manage_env)
    site = f"http://127.0.0.1:{nginx.port}"
    pages = [open_page(f"{site}/call/{room_id}/") for _ in range(3)]
    for page in pages:
        join(page)
        page.wait_for_function("window.call.peerId !== null")
    for page in pages:
        decodes_everyone(page, 2)
        page.evaluate(RECORD_EVENTS)
        page.evaluate("() => { window.sfuBefore = window.call.sfu; }")
        page.evaluate(WATCH_FRAMES)
    for page in pages:
        page.wait_for_function("performance.now() - window.steadySince > 3000", timeout=30000)
        page.evaluate("() => { window.longestStall = {}; }")
    ids = [peer_id(page) for page in pages]

    for worker in workers:
        restart(worker)
        for page in pages:
            page.wait_for_function(
                "window.call.getSnapshot().reconnectAttempt === 0 && window.call.state === 'connected'"
            )
        for page in pages:
            decodes_everyone(page, 2)

    for page, me in zip(pages, ids, strict=True):
        assert peer_id(page) == me
        assert sorted(page.evaluate("window.call.remotePeerIds")) == sorted(set(ids) - {me})
        # The same connections with Janus as before the restarts: taken over, not made anew.
        assert page.evaluate("window.call.sfu === window.sfuBefore")
        events = page.evaluate("window.events")
        assert not [event for event in events if event.startswith(("left:", "joined:", "failed"))], events
        page.evaluate("clearInterval(window.frameWatch)")
        stalls = page.evaluate("window.longestStall")
        print(f"{me}: longest stall of each remote video (ms): {stalls}")
        assert len(stalls) == 2, stalls
        assert max(stalls.values()) < 1000, stalls
