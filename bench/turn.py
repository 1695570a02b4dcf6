"""Benchmark of calls through TURN: ``.venv/bin/python -m bench.turn`` (``--quick`` for fewer calls).

For each path, the median over several calls in fresh rooms of the time from the joining page's ``connect()`` to
its first decoded frame of the other page's camera (and to its open data channel):

- direct: host candidates, no TURN server configured;
- relay forced: both pages ``iceTransportPolicy: "relay"``, through coturn.

Not measured: the time the clients take to fall back to the relay when direct paths fail. On one machine a direct
path always exists (dropping the other side's host candidates is not enough: checks arriving from its host address
make peer-reflexive ones), so it needs a network namespace that drops the pages' direct traffic.

Everything runs on this machine: the reference project under daphne (SQLite), coturn on loopback
(``rtcsite.servers.TurnServer``), Chromium from Debian with a fake 640x480 camera.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from playwright.sync_api import Browser, sync_playwright

from rtcsite.servers import RELAY_ONLY_SCRIPT, ROOT, DaphneProcess, TurnServer

CHROMIUM_ARGS = ["--use-fake-device-for-media-stream=fps=30", "--use-fake-ui-for-media-stream", "--no-sandbox",
                 "--disable-gpu", "--autoplay-policy=no-user-gesture-required"]
SECRET = "bench-turn-secret"

# From connect() to an open `chat` channel and to the first decoded frame of the other page's video.
JOIN_AND_WAIT = """async () => {
    const started = performance.now();
    await window.call.connect();
    const times = {};
    while (times.video === undefined) {
      const id = window.call.remotePeerIds[0];
      if (id && times.data === undefined && window.call.getDataChannelState(id, 'chat') === 'open')
        times.data = performance.now() - started;
      const video = id && document.querySelector(`figure[data-peer='${id}'] video`);
      if (video && video.videoWidth > 0 && video.getVideoPlaybackQuality().totalVideoFrames > 0)
        times.video = performance.now() - started;
      await new Promise((r) => setTimeout(r, 5));
    }
    const summary = await window.call.getQualitySummary(window.call.remotePeerIds[0]);
    return { ...times, relay: summary?.candidatePair?.usingRelay ?? null };
  }"""


def site(workdir: Path, settings: dict[str, object]) -> DaphneProcess:
    env = {"RTCSITE_DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}", "RTCSITE_MEDIA_ROOT": str(workdir / "media"),
           "DJANGO_SETTINGS_MODULE": "tests.browser.settings", "SIGNALING_SETTINGS": json.dumps(settings)}
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, check=True,
                   env={**os.environ, **env})
    return DaphneProcess(env, settings_module="tests.browser.settings", application="tests.browser.asgi:application")


def calls(browser: Browser, daphne: DaphneProcess, script: str | None, count: int) -> list[dict[str, float]]:
    results = []
    for _ in range(count):
        room = f"bench-{uuid.uuid4().hex[:8]}"
        pages = []
        for _ in range(2):
            context = browser.new_context()
            if script is not None:
                context.add_init_script(script)
            page = context.new_page()
            page.goto(f"{daphne.http_url}/call/{room}/")
            page.wait_for_function("window.call !== undefined")
            pages.append(page)
        first, second = pages
        first.evaluate("window.call.connect()")
        first.wait_for_function("window.call.peerId !== null")
        results.append(second.evaluate(JOIN_AND_WAIT))
        for page in pages:
            page.context.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.turn", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    count = 3 if parser.parse_args().quick else 7
    print(f"From connect() to the other page's data channel and first video frame (median of {count} calls)")
    print(f"  {'path':<40} {'data channel':>14} {'first frame':>14} {'relayed':>9}")
    with TurnServer(SECRET) as turn, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        with_turn = {"TURN_SECRET": SECRET, "TURN_URLS": turn.urls("udp", "tcp")}
        for name, settings, script in (
            ("direct (no TURN configured)", {"ICE_SERVERS": []}, None),
            ("relay forced (relay only, coturn UDP)", with_turn, RELAY_ONLY_SCRIPT),
        ):
            with site(Path(tempfile.mkdtemp(prefix="bench-turn-")), settings) as daphne:
                results = calls(browser, daphne, script, count)
            data = statistics.median(r["data"] for r in results)
            video = statistics.median(r["video"] for r in results)
            relayed = sum(1 for r in results if r["relay"])
            print(f"  {name:<40} {data:>11,.0f} ms {video:>11,.0f} ms {relayed:>5} / {count}", flush=True)
        browser.close()


if __name__ == "__main__":
    main()
