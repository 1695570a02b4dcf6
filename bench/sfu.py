"""Benchmark of SFU rooms against the mesh: ``.venv/bin/python -m bench.sfu`` (``--quick`` for a short run).

Every participant is a Python peer (aiortc) in a process of its own, publishing 120x90 video at 15 fps (a moving
gradient) and a tone, against the reference project under daphne (SQLite) and a Janus Gateway of its own (the
configuration ``janus_config`` writes). For each room size, in an SFU room and in a mesh room of the same size:

1. Delivery: of the frames each participant's camera produced during the measured window, the share that each
   other participant decoded (the worst pair, and over all pairs).
2. Per client: upload bitrate (every outbound RTP stream's bytes) and video encoders (outbound video streams: the
   mesh grows with N-1, the SFU stays at 1).
3. CPU, in cores: the server side's (Janus and the signaling worker), and the participants' processes' (they
   share this machine's two cores with the server, and run out first).

Sizes grow until an SFU room loses more than 1% of some stream (or the largest asked for): the largest room this
machine holds with every stream delivered. A participant whose process died reports nothing and counts as
receiving nothing: the line says how many reported.

Then the time from ``connect()`` to the first remote video frame, for the last of 8 joining an SFU room, against
the last of 4 joining a mesh room (the median of a few joins).
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
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.peer import cpu_seconds, migrated_site
from rtcsite.servers import ROOT, DaphneProcess, JanusProcess

FPS = 15
SIGNAL_PATH = "/api/call/signal"


def line(name: str, value: str) -> None:
    print(f"  {name:<64} {value:>24}", flush=True)


# --- One participant, in a process of its own -----------------------------------------------------------------


async def participate(url: str, room_id: str, shade: int, start_at: float, end_at: float) -> dict[str, Any]:
    """Join, publish, count; at ``start_at`` and ``end_at`` (epoch seconds) note what was produced, decoded and
    sent; print that as one JSON line, and leave."""
    import numpy as np

    from signaling.peer import GeneratedAudioTrack, GeneratedVideoTrack, TrackReceived, WebRTCCall, tone

    produced = 0

    # A gradient that moves (as a picture of someone does, more or less): a flat picture would cost the encoders
    # next to nothing and the upload would be the audio's alone.
    ramp = np.tile(np.linspace(0, 255, 120, dtype=np.uint8), (90, 1))

    def draw(index: int) -> np.ndarray:
        nonlocal produced
        produced += 1
        picture = np.empty((90, 120, 3), np.uint8)
        picture[..., 0] = shade
        picture[..., 1] = np.roll(ramp, 3 * index, axis=1)
        picture[..., 2] = np.roll(ramp, index, axis=0)
        return picture

    call = WebRTCCall(url, room_id, tracks=[GeneratedVideoTrack(draw, fps=FPS), GeneratedAudioTrack(tone())])
    decoded: dict[str, int] = {}
    first_frame: list[float] = []

    async def count(event: TrackReceived) -> None:
        if event.track.kind != "video":
            return
        try:
            while True:
                await event.track.recv()
                decoded[event.peer_id] = decoded.get(event.peer_id, 0) + 1
                if not first_frame:
                    first_frame.append(time.monotonic())
        except Exception:
            return

    call.on(TrackReceived, count)
    started = time.monotonic()
    await call.connect()

    async def snapshot() -> dict[str, Any]:
        sent: dict[str, tuple[str, int]] = {}
        for number, pc in enumerate(connections(call)):
            for report in (await pc.getStats()).values():
                if report.type == "outbound-rtp":
                    sent[f"{number}:{report.ssrc}"] = (report.kind, report.bytesSent)
        return {"produced": produced, "decoded": dict(decoded), "sent": sent}

    await asyncio.sleep(max(0.0, start_at - time.time()))
    first = await snapshot()
    await asyncio.sleep(max(0.0, end_at - time.time()))
    last = await snapshot()
    result = {
        "peer": call.peer_id,
        "first": first,
        "last": last,
        "first_frame": (first_frame[0] - started) if first_frame else None,
    }
    print(json.dumps(result), flush=True)
    await asyncio.wait_for(call.hangup(), 10)
    return result


def connections(call: Any) -> list[Any]:
    """The peer's RTCPeerConnections: with the SFU (publisher, subscriber), or one per remote peer."""
    if call._sfu is not None:
        return [call._sfu.publisher, call._sfu.subscriber]
    return [link.pc for link in call._links.values()]


def peer_main(arguments: list[str]) -> None:
    url, room_id, shade, start_at, end_at = arguments
    import faulthandler

    faulthandler.enable()
    faulthandler.dump_traceback_later(float(end_at) - time.time() + 20, exit=True)
    try:
        asyncio.run(participate(url, room_id, int(shade), float(start_at), float(end_at)))
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)
    # What was measured is out; aiortc's encoder threads can hold the interpreter's exit for seconds.
    os._exit(0)


# --- The benchmark ----------------------------------------------------------------------------------------------


class Bench:
    def __init__(self, workdir: Path, janus: JanusProcess, daphne: DaphneProcess, env: dict[str, str]) -> None:
        self.workdir, self.janus, self.daphne, self.env = workdir, janus, daphne, env

    def room(self, topology: str, size: int) -> str:
        room_id = f"bench-{topology}-{size}-{uuid.uuid4().hex[:6]}"
        subprocess.run(
            [
                sys.executable,
                "manage.py",
                "shell",
                "-c",
                f"from rooms.models import Room; Room.objects.create(id={room_id!r}, max_peers={size}, "
                f"topology={topology!r})",
            ],
            cwd=ROOT,
            check=True,
            env={**os.environ, **self.env},
        )
        return room_id

    def peers(
        self,
        room_id: str,
        size: int,
        settle: float,
        window: float,
        alongside: Callable[[], list[int]] | None = None,
    ) -> tuple[list[dict[str, Any]], dict[str, float]]:
        """``size`` participants joining one after the other; what each measured, and the CPU (cores) over the window
        of Janus, the signaling worker (daphne), the participants and what ``alongside`` started: it is called once
        every participant has started, before the window, and returns the processes to count (a recorder)."""
        url = self.daphne.ws_url + SIGNAL_PATH
        start_at = time.time() + 1.5 * size + settle
        end_at = start_at + window
        processes = []
        for index in range(size):
            processes.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "bench.sfu",
                        "--peer",
                        url,
                        room_id,
                        str(30 + 7 * index),
                        str(start_at),
                        str(end_at),
                    ],
                    cwd=ROOT,
                    env={**os.environ, **self.env},
                    stdout=subprocess.PIPE,
                    stderr=(self.workdir / f"{room_id}-{index}.log").open("w"),
                    text=True,
                )
            )
            time.sleep(1.0)
        watched = {
            "janus": [self.janus.process.pid],  # type: ignore[union-attr]
            "daphne": [self.daphne.process.pid],  # type: ignore[union-attr]
            "participants": [process.pid for process in processes],
            "alongside": alongside() if alongside is not None else [],
        }
        time.sleep(max(0.0, start_at - time.time()))
        before = {name: sum(cpu_seconds(pid) for pid in pids) for name, pids in watched.items()}
        time.sleep(max(0.0, end_at - time.time()))
        cpu = {name: (sum(cpu_seconds(pid) for pid in pids) - before[name]) / window for name, pids in watched.items()}
        results = []
        for process in processes:
            output, _ = process.communicate(timeout=60)
            lines = [text for text in output.splitlines() if text.startswith("{")]
            results.append(json.loads(lines[-1]) if lines else {})
        return results, cpu

    def measure(
        self,
        topology: str,
        size: int,
        settle: float,
        window: float,
        alongside: Callable[[str], list[int]] | None = None,
        room_id: str | None = None,
    ) -> dict[str, float]:
        """Delivery, upload and CPU of a room of ``size``; ``alongside(room_id)`` starts what else is measured with
        it (``peers``)."""
        room_id = room_id or self.room(topology, size)
        results, cpu = self.peers(
            room_id, size, settle, window, (lambda: alongside(room_id)) if alongside is not None else None
        )
        complete = [r for r in results if r]
        produced = {r["peer"]: r["last"]["produced"] - r["first"]["produced"] for r in complete}
        shares = []
        for receiver in complete:
            for sender, made in produced.items():
                if sender == receiver["peer"] or made <= 0:
                    continue
                got = receiver["last"]["decoded"].get(sender, 0) - receiver["first"]["decoded"].get(sender, 0)
                shares.append(min(1.0, got / made))
        expected_pairs = size * (size - 1)
        shares += [0.0] * (expected_pairs - len(shares))  # a participant that reported nothing delivered nothing
        upload, encoders = [], []
        for r in complete:
            grew = {
                stream: (kind, sent - r["first"]["sent"].get(stream, ["", 0])[1])
                for stream, (kind, sent) in r["last"]["sent"].items()
            }
            upload.append(8 * sum(delta for _, delta in grew.values()) / window / 1000)
            # An encoder is a video stream that sent during the window (aiortc lists idle senders too).
            encoders.append(sum(1 for kind, delta in grew.values() if kind == "video" and delta > 0))
        return {
            "worst": min(shares) if shares else 0.0,
            "all": statistics.fmean(shares) if shares else 0.0,
            "upload": statistics.fmean(upload) if upload else 0.0,
            "encoders": statistics.fmean(encoders) if encoders else 0.0,
            "cpu": cpu["janus"] + cpu["daphne"],
            "janus_cpu": cpu["janus"],
            "clients_cpu": cpu["participants"],
            "alongside_cpu": cpu["alongside"],
            "reported": len(complete),
        }

    def first_frame(self, topology: str, size: int, joins: int) -> float:
        """The median time from ``connect()`` to the first remote video frame of the last of ``size`` to join."""
        times = []
        for _ in range(joins):
            results, _ = self.peers(self.room(topology, size), size, settle=0.0, window=1.0)
            last = results[-1]
            if last.get("first_frame") is not None:
                times.append(last["first_frame"])
        return statistics.median(times) if times else float("nan")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--peer":
        peer_main(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(prog="python -m bench.sfu", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 5 s window, rooms of 4 and 8, one join each")
    parser.add_argument("--sizes", default="4,8,12,16,20", help="room sizes to try, smallest first")
    options = parser.parse_args()
    sizes = [4, 8] if options.quick else [int(size) for size in options.sizes.split(",")]
    window = 5.0 if options.quick else 15.0
    joins = 1 if options.quick else 3
    workdir, env = migrated_site("bench-sfu-")
    with JanusProcess() as janus:
        sfu = {"SFU_JANUS_URL": janus.url, "SFU_API_SECRET": janus.api_secret, "SFU_ADMIN_KEY": janus.admin_key}
        env["SIGNALING_SETTINGS"] = json.dumps({**sfu, "SFU_MAX_PEERS": max(sizes)})
        with DaphneProcess(
            env, settings_module="tests.browser.settings", application="tests.browser.asgi:application"
        ) as daphne:
            bench = Bench(workdir, janus, daphne, env)
            print(f"bench.sfu: {os.cpu_count()} cores, 120x90 video at {FPS} fps, {window:g} s windows", flush=True)
            largest = 0
            for size in sizes:
                for topology in ("sfu", "mesh"):
                    got = bench.measure(topology, size, settle=4.0 if topology == "sfu" else 12.0, window=window)
                    line(
                        f"{topology} room of {size}: frames delivered (worst stream, all; participants reporting)",
                        f"{100 * got['worst']:.1f}%, {100 * got['all']:.1f}%; {got['reported']:.0f}/{size}",
                    )
                    line(
                        f"{topology} room of {size}: per client upload, video encoders",
                        f"{got['upload']:.0f} kbit/s, {got['encoders']:.1f}",
                    )
                    line(
                        f"{topology} room of {size}: CPU of the server side (Janus + daphne), of the participants",
                        f"{got['cpu']:.2f}, {got['clients_cpu']:.2f} cores",
                    )
                    if topology == "sfu" and got["worst"] >= 0.99 and got["reported"] == size:
                        largest = size
                if largest != size:
                    break
            line("largest SFU room with every stream >= 99% delivered", f"{largest}")
            sfu_first = bench.first_frame("sfu", 8, joins)
            mesh_first = bench.first_frame("mesh", 4, joins)
            line("connect() to first remote video frame, last of 8, SFU", f"{1000 * sfu_first:.0f} ms")
            line("connect() to first remote video frame, last of 4, mesh", f"{1000 * mesh_first:.0f} ms")


if __name__ == "__main__":
    main()
