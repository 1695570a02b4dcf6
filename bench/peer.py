"""Benchmark of the Python peer: ``.venv/bin/python -m bench.peer`` (``--quick`` for a short run).

1. From ``connect()`` to an open data channel: a Python peer joining a Chromium page, next to a Chromium page
   joining another (each the median of several joins in fresh rooms).
2. The server-side recorder (``manage.py record_call`` in a process of its own) recording two Chromium pages'
   640x480 cameras: its CPU per recorded stream, and the video frames it received but did not write.

Everything runs on this machine against the reference project under daphne (SQLite), Chromium from Debian.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from playwright.sync_api import sync_playwright

from rtcsite.servers import ROOT, DaphneProcess

CHROMIUM_ARGS = [
    "--use-fake-device-for-media-stream=fps=30",
    "--use-fake-ui-for-media-stream",
    "--no-sandbox",
    "--disable-gpu",
    "--autoplay-policy=no-user-gesture-required",
]


def line(name: str, value: str, target: str = "", met: bool | None = None) -> None:
    verdict = "" if met is None else ("met" if met else "NOT met")
    print(f"  {name:<58} {value:>22}   {target:<26} {verdict}", flush=True)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def migrated_site(prefix: str) -> tuple[Path, dict[str, str]]:
    """A folder of its own with a migrated SQLite database, and the environment of the reference project (test
    settings) that uses them."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    env = {
        "RTCSITE_DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
        "RTCSITE_MEDIA_ROOT": str(workdir / "media"),
        "DJANGO_SETTINGS_MODULE": "tests.browser.settings",
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        check=True,
        env={**os.environ, **env},
    )
    return workdir, env


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.peer", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    options = parser.parse_args()
    joins = 3 if options.quick else 7
    seconds = 10.0 if options.quick else 30.0
    _workdir, env = migrated_site("bench-peer-")
    with (
        DaphneProcess(
            env, settings_module="tests.browser.settings", application="tests.browser.asgi:application"
        ) as daphne,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        signal_url = daphne.ws_url + "/api/call/signal"

        def page(path: str):  # type: ignore[no-untyped-def]
            opened = browser.new_context().new_page()
            opened.goto(daphne.http_url + path)
            opened.wait_for_function("window.call !== undefined")
            return opened

        join_and_open = """async () => {
            const started = performance.now();
            await window.call.connect();
            while (!window.call.remotePeerIds.some((id) => window.call.getDataChannelState(id, 'chat') === 'open'))
              await new Promise((r) => setTimeout(r, 2));
            return performance.now() - started;
          }"""
        browser_times, python_times = [], []
        for _ in range(joins):
            room = f"bench-{uuid.uuid4().hex[:8]}"
            first, second = page(f"/chat/{room}/"), page(f"/chat/{room}/")
            first.evaluate("window.call.connect()")
            first.wait_for_function("window.call.peerId !== null")
            browser_times.append(second.evaluate(join_and_open))
            first.context.close()
            second.context.close()

            room = f"bench-{uuid.uuid4().hex[:8]}"
            first = page(f"/chat/{room}/")
            first.evaluate("window.call.connect()")
            first.wait_for_function("window.call.peerId !== null")
            # In a thread of its own: Playwright's synchronous API keeps an event loop on this one.
            with ThreadPoolExecutor(1) as thread:
                python_times.append(thread.submit(asyncio.run, python_join(signal_url, room)).result())
            first.context.close()
        chromium_ms, python_ms = statistics.median(browser_times), statistics.median(python_times)
        print(f"From connect() to an open data channel (median of {joins} joins, fresh rooms)")
        line("Chromium page joining a Chromium page", f"{chromium_ms:,.0f} ms")
        line(
            "Python peer joining a Chromium page",
            f"{python_ms:,.0f} ms",
            "within 2x of Chromium's",
            python_ms <= 2 * chromium_ms,
        )

        room = f"bench-rec-{uuid.uuid4().hex[:8]}"
        pages = [page(f"/call/{room}/") for _ in range(2)]
        for each in pages:
            each.evaluate("window.call.connect()")
        for each in pages:
            each.wait_for_function("window.call.state === 'connected'", timeout=30000)
        settings = pages[0].evaluate("""() => window.call.localStream.getVideoTracks()[0].getSettings()""")
        recorder = subprocess.Popen(
            [sys.executable, "manage.py", "record_call", room, "--url", signal_url, "--empty-for", "1"],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for each in pages:
            each.locator("#recording-indicator").wait_for(state="visible", timeout=30000)
        time.sleep(2)  # the recorder's connections come up
        cpu_before, started = cpu_seconds(recorder.pid), time.monotonic()
        time.sleep(seconds)
        cpu_used, elapsed = cpu_seconds(recorder.pid) - cpu_before, time.monotonic() - started
        for each in pages:
            each.evaluate("window.call.hangup()")
        output, _ = recorder.communicate(timeout=60)
        browser.close()
    written = received = 0
    for text in output.splitlines():
        if text.startswith("Saved ") and " video frames received" in text:
            counts = text.split(", ")[-1].split(" video frames")[0].split(" of ")
            written, received = written + int(counts[0]), received + int(counts[1])
    per_stream = cpu_used / elapsed / 2 * 100
    print(
        f"Server-side recorder: two Chromium cameras ({settings.get('width')}x{settings.get('height')} at "
        f"{settings.get('frameRate'):.0f} fps), {elapsed:.0f} s"
    )
    line("recorder CPU per recorded stream", f"{per_stream:.1f} % of a core")
    line("recorder CPU, both streams", f"{per_stream * 2:.1f} % of a core", "keeps up (< 100 %)", per_stream * 2 < 100)
    dropped = (received - written) / received * 100 if received else 100.0
    line("video frames received / written", f"{received:,} / {written:,}")
    line("frames dropped by the recorder", f"{dropped:.2f} %", "< 1 %", dropped < 1)


async def python_join(signal_url: str, room: str) -> float:
    from signaling.peer import DataChannelOpen, WebRTCCall

    call = WebRTCCall(signal_url, room, data_channels=["chat"])
    opened = asyncio.Event()
    call.on(DataChannelOpen, lambda event: opened.set() if event.label == "chat" else None)
    started = time.perf_counter()
    await call.connect()
    await asyncio.wait_for(opened.wait(), 30)
    elapsed = (time.perf_counter() - started) * 1000
    await call.hangup()
    return elapsed


if __name__ == "__main__":
    main()
