"""Benchmark of calls through TURN: ``.venv/bin/python -m bench.turn`` (``--quick`` for fewer calls).

For each path, the median over several calls in fresh rooms of the time from the joining page's ``connect()`` to
its first decoded frame of the other page's camera (and to its open data channel):

- direct: host candidates, no TURN server configured;
- relay forced: both pages ``iceTransportPolicy: "relay"``, through coturn.

- no direct path: the pages on two network namespaces that reach this machine (daphne, coturn) but not each
  other (``rtcsite.servers.SplitNetwork``), with TURN offered, not forced: the clients find the relay by themselves;
- and the fallback mid-call: the two namespaces also share a direct link, the call goes direct, the link is cut;
  the media gap is the longest time the receiving page's decoded frames and chat messages (one every 200 ms)
  stood still, until the call runs through the relay. (Needs root, for ``ip netns``.)

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

from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from rtcsite.servers import (
    RELAY_ONLY_SCRIPT,
    ROOT,
    WATCH_SCRIPT,
    DaphneProcess,
    SplitNetwork,
    TurnServer,
    wait_for_async,
)

CHROMIUM_ARGS = [
    "--use-fake-device-for-media-stream=fps=30",
    "--use-fake-ui-for-media-stream",
    "--no-sandbox",
    "--disable-gpu",
    "--autoplay-policy=no-user-gesture-required",
]
SECRET = "bench-turn-secret"

# From connect() to an open `chat` channel and to the first decoded frame of the other page's video.
JOIN_AND_WAIT = """async () => {
    const started = performance.now();
    await window.call.connect();
    const times = {};
    while (times.video === undefined || times.data === undefined) {
      const id = window.call.remotePeerIds[0];
      if (id && times.data === undefined && window.call.getDataChannelState(id, 'chat') === 'open')
        times.data = performance.now() - started;
      const video = id && document.querySelector(`figure[data-peer='${id}'] video`);
      if (times.video === undefined && video && video.videoWidth > 0
          && video.getVideoPlaybackQuality().totalVideoFrames > 0)
        times.video = performance.now() - started;
      await new Promise((r) => setTimeout(r, 5));
    }
    const summary = await window.call.getQualitySummary(window.call.remotePeerIds[0]);
    return { ...times, relay: summary?.candidatePair?.usingRelay ?? null };
  }"""


def site(workdir: Path, settings: dict[str, object], address: str = "127.0.0.1") -> DaphneProcess:
    env = {
        "RTCSITE_DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
        "RTCSITE_MEDIA_ROOT": str(workdir / "media"),
        "DJANGO_SETTINGS_MODULE": "tests.browser.settings",
        "SIGNALING_SETTINGS": json.dumps(settings),
        "DJANGO_ALLOWED_HOSTS": f"127.0.0.1,{address}",
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        check=True,
        env={**os.environ, **env},
    )
    return DaphneProcess(
        env, settings_module="tests.browser.settings", application="tests.browser.asgi:application", address=address
    )


def calls(browsers: list[Browser], daphne: DaphneProcess, script: str | None, count: int) -> list[dict[str, float]]:
    results = []
    for _ in range(count):
        pages = call_pages(browsers, daphne, script)
        first, second = pages
        first.evaluate("window.call.connect()")
        first.wait_for_function("window.call.peerId !== null")
        results.append(second.evaluate(JOIN_AND_WAIT))
        for page in pages:
            page.context.close()
    return results


def call_pages(browsers: list[Browser], daphne: DaphneProcess, script: str | None) -> list[Page]:
    """Two pages of one new room, on the first and the last browser (the same one when there is one)."""
    room = f"bench-{uuid.uuid4().hex[:8]}"
    pages = []
    for browser in (browsers[0], browsers[-1]):
        context = browser.new_context()
        if script is not None:
            context.add_init_script(script)
        page = context.new_page()
        page.set_default_timeout(60000)
        page.goto(f"{daphne.http_url}/call/{room}/")
        page.wait_for_function("window.call !== undefined")
        pages.append(page)
    return pages


def split_browsers(playwright: Playwright, network: SplitNetwork, daphne: DaphneProcess) -> list[Browser]:
    # The site is plain http on a private address: a secure context only by this flag (getUserMedia needs one).
    args = [*CHROMIUM_ARGS, f"--unsafely-treat-insecure-origin-as-secure={daphne.http_url}"]
    return [playwright.chromium.launch(executable_path=network.chromium(host), args=args) for host in ("a", "b")]


def no_direct_path(playwright: Playwright, count: int) -> list[dict[str, float]]:
    with SplitNetwork() as network, TurnServer(SECRET, address=network.host_address) as turn:
        settings = {"TURN_SECRET": SECRET, "TURN_URLS": turn.urls("udp", "tcp")}
        with site(Path(tempfile.mkdtemp(prefix="bench-turn-")), settings, network.host_address) as daphne:
            browsers = split_browsers(playwright, network, daphne)
            try:
                return calls(browsers, daphne, None, count)
            finally:
                for browser in browsers:
                    browser.close()


def fallback_gap(playwright: Playwright) -> dict[str, float]:
    """One call that goes direct, then loses its direct path: the longest stall of frames and of messages."""
    with SplitNetwork(lan=True) as network, TurnServer(SECRET, address=network.host_address) as turn:
        settings = {"TURN_SECRET": SECRET, "TURN_URLS": turn.urls("udp", "tcp")}
        with site(Path(tempfile.mkdtemp(prefix="bench-turn-")), settings, network.host_address) as daphne:
            browsers = split_browsers(playwright, network, daphne)
            try:
                first, second = call_pages(browsers, daphne, None)
                first.evaluate("window.call.connect()")
                first.wait_for_function("window.call.peerId !== null")
                second.evaluate(JOIN_AND_WAIT)
                first.wait_for_function("window.call.state === 'connected'")
                peers = [page.evaluate("window.call.peerId") for page in (first, second)]
                for page, other in ((first, peers[1]), (second, peers[0])):
                    page.evaluate(WATCH_SCRIPT, other)
                second.wait_for_function("window.watch.messages > 5 && window.watch.frames > 30")
                network.cut_lan()
                for page, other in ((first, peers[1]), (second, peers[0])):
                    wait_for_async(
                        page,
                        "async (id) => (await window.call.getQualitySummary(id))?.candidatePair?.usingRelay === true",
                        other,
                    )
                # Measured once both flow again: until then the longest stall is still growing.
                counts = second.evaluate("[window.watch.frames, window.watch.messages]")
                second.wait_for_function(
                    "([frames, messages]) => window.watch.frames > frames + 30 && window.watch.messages > messages + 5",
                    arg=counts,
                    timeout=60000,
                )
                watch = second.evaluate("window.watch")
                return {
                    "frames": watch["stalls"]["frames"],
                    "messages": watch["stalls"]["messages"],
                    "restarts": watch["restarts"],
                }
            finally:
                for browser in browsers:
                    browser.close()


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
                report(name, calls([browser], daphne, script, count))
        browser.close()
        if os.geteuid() != 0:
            print("  (the split-network figures need root, for ip netns: not measured)")
            return
        report("no direct path (TURN offered, not forced)", no_direct_path(playwright, count))
        gaps = [fallback_gap(playwright) for _ in range(count)]
        print(f"Media gap when the direct path dies mid-call ({count} calls): longest stall of the receiving page")
        for key, label in (("frames", "decoded video frames"), ("messages", "chat messages (every 200 ms)")):
            values = [gap[key] for gap in gaps]
            print(f"  {label:<40} median {statistics.median(values):>6,.0f} ms   max {max(values):>6,.0f} ms")
        print(f"  ICE restarts the clients made meanwhile: {sum(int(gap['restarts']) for gap in gaps)}")


def report(name: str, results: list[dict[str, float]]) -> None:
    data = statistics.median(r["data"] for r in results)
    video = statistics.median(r["video"] for r in results)
    relayed = sum(1 for r in results if r["relay"])
    print(f"  {name:<40} {data:>11,.0f} ms {video:>11,.0f} ms {relayed:>5} / {len(results)}", flush=True)


if __name__ == "__main__":
    main()
