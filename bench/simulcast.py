"""Benchmark of simulcast and adaptive video in an SFU room: ``.venv/bin/python -m bench.simulcast``.

Two Chromium pages of the demo call page in an SFU room, through daphne and a Janus of its own: the publisher's
fake camera at 1280x720 and 30 fps, with simulcast (three VP8 layers, the default) and without
(``simulcast: false``); the subscriber shows the publisher's tile at 1280x720, 480x270, 160x90 CSS pixels, and
hidden. For each, after the layer settled (4 s), over ``--window`` seconds (default 6): the subscriber's inbound
video bitrate of that peer and the frame height it decodes, and the publisher's upload.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

from bench.peer import migrated_site
from rtcsite.servers import ROOT, DaphneProcess, JanusProcess

CHROMIUM_ARGS = [
    "--use-fake-device-for-media-stream=fps=30",
    "--use-fake-ui-for-media-stream",
    "--no-sandbox",
    "--autoplay-policy=no-user-gesture-required",
]
TILES = {
    "1280x720 tile": "width: 1280px !important; height: 720px !important; flex: none",
    "480x270 tile": "width: 480px !important; height: 270px !important; flex: none",
    "160x90 tile": "width: 160px !important; height: 90px !important; flex: none",
    "hidden tile": "display: none",
}
INBOUND = """async (peer) => {
  const sfu = window.call.sfu;
  let found = { bytes: 0, height: 0 };
  (await sfu.subscriber.getStats()).forEach((r) => {
    if (r.type === 'inbound-rtp' && r.kind === 'video' && sfu.peerOfMid.get(r.mid) === peer)
      found = { bytes: r.bytesReceived ?? 0, height: r.frameHeight ?? 0 };
  });
  return found;
}"""
OUTBOUND = """async () => {
  let bytes = 0;
  (await window.call.sfu.publisher.getStats()).forEach((r) => {
    if (r.type === 'outbound-rtp' && r.kind === 'video') bytes += r.bytesSent ?? 0;
  });
  return bytes;
}"""


def line(name: str, value: str) -> None:
    print(f"  {name:<64} {value:>24}", flush=True)


def measure(site: str, env: dict[str, str], simulcast: bool, window: float) -> dict[str, dict[str, Any]]:
    from playwright.sync_api import sync_playwright

    room_id = f"bench-simulcast-{int(time.time() * 1000)}"
    create = f"from rooms.models import Room; Room.objects.create(id={room_id!r}, topology='sfu')"
    subprocess.run([sys.executable, "manage.py", "shell", "-c", create], cwd=ROOT, env=env, check=True)
    results: dict[str, dict[str, Any]] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        pages = []
        for _ in range(2):
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            page.goto(f"{site}/call/{room_id}/")
            page.evaluate(f"window.call.setOptions({{ ...window.call.options, simulcast: {json.dumps(simulcast)} }})")
            page.click("#join")
            page.wait_for_function("window.call.peerId !== null && window.call.sfu !== null")
            pages.append(page)
        publisher, viewer = pages
        publisher.evaluate(
            "window.call.localStream.getVideoTracks()[0].applyConstraints({ width: 1280, height: 720, frameRate: 30 })"
        )
        them = publisher.evaluate("window.call.peerId")
        viewer.wait_for_function(
            '(peer) => document.querySelector(`.tile.remote[data-peer="${peer}"]`) !== null', arg=them
        )
        for name, css in TILES.items():
            viewer.evaluate(
                '([peer, css]) => { document.querySelector(`.tile.remote[data-peer="${peer}"]`).style.cssText = css; }',
                [them, css],
            )
            time.sleep(4)  # the layer settles: the benchmark measures the steady state after it
            before, sent_before, at = viewer.evaluate(INBOUND, them), publisher.evaluate(OUTBOUND), time.monotonic()
            time.sleep(window)
            after, sent_after = viewer.evaluate(INBOUND, them), publisher.evaluate(OUTBOUND)
            seconds = time.monotonic() - at
            results[name] = {
                "kbps": 8 * (after["bytes"] - before["bytes"]) / seconds / 1000,
                "height": after["height"],
                "upload": 8 * (sent_after - sent_before) / seconds / 1000,
            }
        browser.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.simulcast", description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=float, default=6.0, help="seconds measured per tile size (default 6)")
    options = parser.parse_args()
    _workdir, env = migrated_site("bench-simulcast-")
    with JanusProcess() as janus:
        sfu = {"SFU_JANUS_URL": janus.url, "SFU_API_SECRET": janus.api_secret, "SFU_ADMIN_KEY": janus.admin_key}
        env["SIGNALING_SETTINGS"] = json.dumps(sfu)
        with DaphneProcess(
            env, settings_module="tests.browser.settings", application="tests.browser.asgi:application"
        ) as daphne:
            manage_env = {**os.environ, **env}
            for simulcast in (True, False):
                results = measure(daphne.http_url, manage_env, simulcast, options.window)
                print(f"{'simulcast (3 layers)' if simulcast else 'no simulcast (1 layer)'}:", flush=True)
                for name, got in results.items():
                    line(
                        f"{name}: inbound video, decoded height, publisher upload",
                        f"{got['kbps']:.0f} kbit/s, {got['height']}p, {got['upload']:.0f} kbit/s",
                    )


if __name__ == "__main__":
    main()
