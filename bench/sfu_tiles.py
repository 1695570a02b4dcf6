"""The demo call page with 20 tiles: ``.venv/bin/python -m bench.sfu_tiles`` (``--quick`` for a short run).

One Chromium page of the demo call page in an SFU room with 19 Python publishers (through daphne and a Janus of its
own on this machine), at a laptop's window (1280x800) and at a phone's (390x844). Each publisher sends 160x120
video at 15 fps (a moving picture; what a 640x480 camera's smallest simulcast layer is, the one a tile of a grid of
20 gets) and no audio, and asks for none of the others' video
(``set_remote_video_quality(peer, "off")``), so that this machine's cores go to the page, Janus and the 19 encoders, not
to 19 Python subscribers. The page publishes its fake camera (simulcast) and receives the 19. Chromium runs on
the machine's first core, the publishers on the others (Janus and daphne on any): the page's figures are those of
one core, not of a race with the encoders.

Over the window, on the page: the time between its animation frames (``requestAnimationFrame``: median, 95th
percentile, and the share longer than 50 ms, which a person sees as a stutter), its long tasks (the main thread busy
for more than 50 ms: count and total), the frames each remote tile showed per second (``requestVideoFrameCallback``:
the lowest tile and the median; tiles scrolled out of sight show none, and receive none), and the inbound video
bitrate; and the CPU of Chromium (every process of it) and of the whole machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from bench.peer import cpu_seconds, migrated_site
from bench.sfu import SIGNAL_PATH, Bench, line
from bench.simulcast import CHROMIUM_ARGS
from rtcsite.servers import ROOT, DaphneProcess, JanusProcess

PUBLISHERS = 19
#: What each publisher sends: the quarter layer a 640x480 camera's simulcast sends to small tiles.
WIDTH, HEIGHT = 160, 120
PUBLISHER_PROCESSES = 3
FPS = 15
SIZES = {"laptop 1280x800": {"width": 1280, "height": 800}, "phone 390x844": {"width": 390, "height": 844}}

#: Starts counting: animation frame gaps, long tasks, and each remote tile's frames shown.
WATCH = """() => {
  window.bench = { gaps: [], longTasks: [], shown: {} };
  let last = performance.now();
  const tick = (now) => {
    window.bench.gaps.push(now - last);
    last = now;
    if (window.bench) requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) window.bench.longTasks.push(entry.duration);
  }).observe({ type: 'longtask' });
  for (const video of document.querySelectorAll('.tile.remote video')) {
    const peer = video.closest('.tile').dataset.peer;
    window.bench.shown[peer] = 0;
    const count = () => { window.bench.shown[peer] += 1; video.requestVideoFrameCallback(count); };
    video.requestVideoFrameCallback(count);
  }
}"""
INBOUND = """async () => {
  const got = { bytes: 0, received: 0, decoded: 0 };
  (await window.call.sfu.subscriber.getStats()).forEach((r) => {
    if (r.type !== 'inbound-rtp' || r.kind !== 'video') return;
    got.bytes += r.bytesReceived ?? 0;
    got.received += r.framesReceived ?? 0;
    got.decoded += r.framesDecoded ?? 0;
  });
  return got;
}"""
#: Every remote tile shows video: at least ``n`` tiles whose video has a picture.
TILES_PLAYING = """(n) => [...document.querySelectorAll('.tile.remote video')]
  .filter((v) => v.videoWidth > 0 && !v.paused).length >= n"""


# --- The publishers, several to a process -----------------------------------------------------------------------


async def publish(url: str, room_id: str, count: int, first: int, until: float) -> None:
    import numpy as np

    from signaling.peer import GeneratedVideoTrack, TrackReceived, WebRTCCall

    ramp = np.tile(np.linspace(0, 255, WIDTH, dtype=np.uint8), (HEIGHT, 1))

    def drawer(shade: int) -> Any:
        def draw(index: int) -> np.ndarray:
            picture = np.empty((HEIGHT, WIDTH, 3), np.uint8)
            picture[..., 0] = shade
            picture[..., 1] = np.roll(ramp, 4 * index, axis=1)
            picture[..., 2] = np.roll(ramp, index, axis=0)
            return picture

        return draw

    calls = []
    for index in range(first, first + count):
        call = WebRTCCall(
            url,
            room_id,
            tracks=[GeneratedVideoTrack(drawer(20 + 11 * index), fps=FPS)],
            metadata={"name": f"Publisher {index + 1}"},
        )

        def none_of_it(event: TrackReceived, call: WebRTCCall = call) -> None:
            if event.track.kind == "video":
                call.set_remote_video_quality(event.peer_id, "off")

        call.on(TrackReceived, none_of_it)
        await call.connect()
        calls.append(call)
    print("publishing", flush=True)
    await asyncio.sleep(max(0.0, until - time.time()))
    await asyncio.gather(*(asyncio.wait_for(call.hangup(), 10) for call in calls), return_exceptions=True)


def publishers_main(arguments: list[str]) -> None:
    url, room_id, count, first, until = arguments
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) > 1:
        os.sched_setaffinity(0, cores[1:])  # the first core is the page's (``watch_page``)
    try:
        asyncio.run(publish(url, room_id, int(count), int(first), float(until)))
    except BaseException:
        traceback.print_exc()
        os._exit(1)
    os._exit(0)  # aiortc's encoder threads can hold the interpreter's exit for seconds


# --- The page ---------------------------------------------------------------------------------------------------


def chromium_cpu() -> float:
    """CPU seconds of every Chromium process on the machine (the benchmark's browser is the only one)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip().startswith("chrom"):
                    total += cpu_seconds(int(entry.name))
            except (OSError, IndexError):
                continue
    return total


def machine_ticks() -> tuple[int, int]:
    """The machine's busy and total CPU time (every core, in ticks), from /proc/stat."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    total = sum(fields)
    return total - fields[3] - fields[4], total


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def watch_page(
    site: str, room_id: str, viewport: dict[str, int], window: float, publisher_pids: list[int]
) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    cores = os.sched_getaffinity(0)
    with sync_playwright() as playwright:
        # Chromium on a core of its own (its processes inherit it), the publishers on the others: on this small
        # machine, what the page does is then measured on one core, not in a race with the 19 encoders.
        os.sched_setaffinity(0, {min(cores)})
        try:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        finally:
            os.sched_setaffinity(0, cores)
        page = browser.new_context(viewport=viewport).new_page()
        page.goto(f"{site}/call/{room_id}/")
        page.click("#join")
        page.wait_for_function("(n) => window.call.remotePeerIds.length === n", arg=PUBLISHERS, timeout=60000)
        # In sight, every tile plays; out of sight (a phone's scrolled-away tiles), the client asks for none.
        in_sight = page.evaluate(
            """() => [...document.querySelectorAll('.tile.remote')].filter((tile) => {
                const box = tile.getBoundingClientRect();
                return box.bottom > 0 && box.top < innerHeight && box.width > 0;
            }).length"""
        )
        page.wait_for_function(TILES_PLAYING, arg=in_sight, timeout=60000)
        time.sleep(3)  # layers settle (adaptive video): the benchmark measures the steady state after it
        page.evaluate(WATCH)
        inbound_before, chromium_before, machine_before = page.evaluate(INBOUND), chromium_cpu(), machine_ticks()
        publishers_before = sum(cpu_seconds(pid) for pid in publisher_pids)
        started = time.monotonic()
        time.sleep(window)
        got = page.evaluate("window.bench")
        seconds = time.monotonic() - started
        inbound = {key: value - inbound_before[key] for key, value in page.evaluate(INBOUND).items()}
        chromium = (chromium_cpu() - chromium_before) / seconds
        publishers = (sum(cpu_seconds(pid) for pid in publisher_pids) - publishers_before) / seconds
        busy, total = (now - before for now, before in zip(machine_ticks(), machine_before, strict=True))
        shown = sorted(count / seconds for count in got["shown"].values())
        playing = [fps for fps in shown if fps > 0]
        Path("/tmp/bench-sfu-tiles").mkdir(exist_ok=True)
        page.screenshot(path=f"/tmp/bench-sfu-tiles/{viewport['width']}x{viewport['height']}.png")
        browser.close()
    gaps = got["gaps"][1:]
    return {
        "gap_median": statistics.median(gaps) if gaps else float("nan"),
        "gap_p95": percentile(gaps, 0.95),
        "stutters": sum(1 for gap in gaps if gap > 50) / len(gaps) if gaps else float("nan"),
        "long_tasks": len(got["longTasks"]),
        "long_total": sum(got["longTasks"]),
        "tiles": len(shown),
        "in_sight": in_sight,
        "playing": len(playing),
        "lowest": min(playing) if playing else 0.0,
        "median": statistics.median(playing) if playing else 0.0,
        "inbound": 8 * inbound["bytes"] / seconds / 1000,
        "received": inbound["received"] / seconds / max(1, in_sight),
        "shown_of_received": sum(got["shown"].values()) / inbound["received"] if inbound["received"] else 0.0,
        "decoded": inbound["decoded"] / seconds / max(1, in_sight),
        "chromium": chromium,
        "publishers": publishers,
        "machine": (os.cpu_count() or 1) * busy / total if total else 0.0,
        "seconds": seconds,
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--publishers":
        publishers_main(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(prog="python -m bench.sfu_tiles", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 5 s window, the laptop's size only")
    options = parser.parse_args()
    window = 5.0 if options.quick else 15.0
    sizes = dict(list(SIZES.items())[:1]) if options.quick else SIZES
    workdir, env = migrated_site("bench-sfu-tiles-")
    with JanusProcess() as janus:
        sfu = {"SFU_JANUS_URL": janus.url, "SFU_API_SECRET": janus.api_secret, "SFU_ADMIN_KEY": janus.admin_key}
        env["SIGNALING_SETTINGS"] = json.dumps({**sfu, "SFU_MAX_PEERS": PUBLISHERS + 1})
        manage_env = {**os.environ, **env}
        with DaphneProcess(
            env, settings_module="tests.browser.settings", application="tests.browser.asgi:application"
        ) as daphne:
            print(
                f"bench.sfu_tiles: {os.cpu_count()} cores; {PUBLISHERS} publishers of {WIDTH}x{HEIGHT} at {FPS} fps "
                f"and the demo call page, {window:g} s windows",
                flush=True,
            )
            rooms = Bench(workdir, janus, daphne, env)
            for name, viewport in sizes.items():
                room_id = rooms.room("sfu", PUBLISHERS + 1)
                until = time.time() + 120 + window
                publishers = []
                share = -(-PUBLISHERS // PUBLISHER_PROCESSES)
                for first in range(0, PUBLISHERS, share):
                    count = min(share, PUBLISHERS - first)
                    arguments = [daphne.ws_url + SIGNAL_PATH, room_id, str(count), str(first), str(until)]
                    publishers.append(
                        subprocess.Popen(
                            [sys.executable, "-m", "bench.sfu_tiles", "--publishers", *arguments],
                            cwd=ROOT,
                            env=manage_env,
                            stdout=subprocess.PIPE,
                            stderr=(workdir / f"publishers-{first}.log").open("w"),
                            text=True,
                        )
                    )
                for process in publishers:
                    assert process.stdout is not None
                    if process.stdout.readline().strip() != "publishing":
                        raise SystemExit(f"publishers did not start: see {workdir}")
                try:
                    pids = [process.pid for process in publishers]
                    got = watch_page(daphne.http_url, room_id, viewport, window, pids)
                finally:
                    for process in publishers:
                        process.kill()
                line(
                    f"{name}: animation frame gap median, p95; share > 50 ms",
                    f"{got['gap_median']:.1f}, {got['gap_p95']:.1f} ms; {100 * got['stutters']:.1f}%",
                )
                line(
                    f"{name}: long tasks (count, total ms in {got['seconds']:.0f} s)",
                    f"{got['long_tasks']:.0f}, {got['long_total']:.0f} ms",
                )
                line(
                    f"{name}: remote tiles (in sight, playing)",
                    f"{got['tiles']:.0f} ({got['in_sight']:.0f}, {got['playing']:.0f})",
                )
                line(
                    f"{name}: frames shown per playing tile (lowest, median)",
                    f"{got['lowest']:.1f}, {got['median']:.1f} fps",
                )
                line(
                    f"{name}: inbound video; frames received, decoded per tile in sight",
                    f"{got['inbound']:.0f} kbit/s; {got['received']:.1f}, {got['decoded']:.1f} fps",
                )
                line(f"{name}: frames shown of the frames received", f"{100 * got['shown_of_received']:.0f}%")
                line(
                    f"{name}: CPU of Chromium, the publishers, the machine (of {os.cpu_count()})",
                    f"{got['chromium']:.2f}, {got['publishers']:.2f}, {got['machine']:.2f} cores",
                )


if __name__ == "__main__":
    main()
