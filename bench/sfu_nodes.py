"""Benchmark of SFU rooms on two Janus nodes: ``.venv/bin/python -m bench.sfu_nodes`` (``--rooms N``, default 4).

Two Janus nodes of their own, two daphne workers sharing a Redis of their own (the registry) and SQLite, and in
each of ``--rooms`` SFU rooms three Python peers (aiortc, one process of them all), each publishing 120x90 video
at 15 fps. The rooms are spread over both nodes. Then, one after the other:

1. **Drain**: node "a" is drained (``SFU_DRAIN_STEP`` 1 s): its rooms move to "b" one by one.
2. **Failure**: node "b" is killed (SIGKILL) with every room now on it: they all move back to "a" at once.
3. **Hang**: node "a" stops answering (SIGSTOP); the health checks (``SFU_HEALTH_INTERVAL`` 0.5 s, 2 s per ping)
   find it, and the rooms move to "b" (started again after 2.).

For each, the media gap: for every pair (receiver, sender) in a moved room, the longest time the receiver went
without a video frame of that sender across the event; the p50 and the max over all pairs, and whether every
pair received again. What this machine's two cores run meanwhile (the peers share them with both Janus nodes and
the workers) is in the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from contextlib import ExitStack
from typing import Any

from bench.peer import migrated_site
from rtcsite.servers import ROOT, DaphneProcess, JanusProcess, RedisProcess

SIGNAL_PATH = "/api/call/signal"


def line(name: str, value: str) -> None:
    print(f"  {name:<64} {value:>24}", flush=True)


class Peer:
    """One participant: its call, and per sender the time of the last video frame and the longest wait since a
    mark (``mark()``)."""

    def __init__(self, url: str, room_id: str, shade: int) -> None:
        import numpy as np

        from signaling.peer import GeneratedVideoTrack, TrackReceived, WebRTCCall

        video = GeneratedVideoTrack(lambda i: np.full((90, 120, 3), shade, np.uint8), fps=15)
        self.call = WebRTCCall(url, room_id, tracks=[video])
        self.last: dict[str, float] = {}
        self.gap: dict[str, float] = {}
        self.frames: dict[str, int] = {}
        self.call.on(TrackReceived, self._count)

    async def _count(self, event: Any) -> None:
        from aiortc.mediastreams import MediaStreamError

        if event.track.kind != "video":
            return
        try:
            while True:
                await event.track.recv()
                now = time.monotonic()
                sender = event.peer_id
                if sender in self.last:
                    self.gap[sender] = max(self.gap.get(sender, 0.0), now - self.last[sender])
                self.last[sender] = now
                self.frames[sender] = self.frames.get(sender, 0) + 1
        except MediaStreamError:
            return

    def mark(self) -> None:
        self.gap = {}

    def receives_from(self, senders: list[str], at_least: int = 10) -> bool:
        return all(self.frames.get(sender, 0) >= at_least for sender in senders)


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(done.stdout + done.stderr)
    return done.stdout


def placements(env: dict[str, str]) -> dict[str, list[str]]:
    code = (
        "import json; from signaling import live; print(json.dumps({n.name: list(n.rooms) for n in live.sfu_nodes()}))"
    )
    return dict(json.loads(manage(env, "shell", "-c", code).strip().splitlines()[-1]))


async def wait_for(condition: Any, within: float) -> bool:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.1)
    return True


async def measure(name: str, rooms: dict[str, list[Peer]], event: Any, settle: float = 4.0) -> None:
    """Run ``event`` (a callable), wait until every pair of every room receives again, and report the gaps."""
    peers = [peer for members in rooms.values() for peer in members]
    for peer in peers:
        peer.mark()
    frames_before = [dict(peer.frames) for peer in peers]
    started = time.monotonic()
    await asyncio.to_thread(event)

    def all_receive_again() -> bool:
        for members in rooms.values():
            for peer in members:
                before = frames_before[peers.index(peer)]
                senders = [other.call.peer_id for other in members if other is not peer]
                if not all(peer.frames.get(s, 0) >= before.get(s, 0) + 15 for s in senders if s):
                    return False
        return True

    recovered = await wait_for(all_receive_again, 60)
    elapsed = time.monotonic() - started
    await asyncio.sleep(settle)
    gaps = [gap for peer in peers for gap in peer.gap.values()]
    print(f"{name}:", flush=True)
    line("every pair receives again", f"{'yes' if recovered else 'NO'} ({elapsed:.1f} s)")
    if gaps:
        line("video gap per pair, p50 (s)", f"{statistics.median(gaps):.2f}")
        line("video gap per pair, max (s)", f"{max(gaps):.2f}")
        line("pairs measured", str(len(gaps)))


async def run(options: argparse.Namespace) -> None:
    with ExitStack() as resources:
        a = resources.enter_context(JanusProcess())
        b = resources.enter_context(JanusProcess(api_secret=a.api_secret, admin_key=a.admin_key))
        redis = resources.enter_context(RedisProcess())
        _workdir, env = migrated_site("bench-sfu-nodes-")
        settings = {
            "SFU_NODES": {"a": {"URL": a.url}, "b": {"URL": b.url}},
            "SFU_API_SECRET": a.api_secret,
            "SFU_ADMIN_KEY": a.admin_key,
            "SFU_HEALTH_INTERVAL": 0.5,
            "SFU_DRAIN_STEP": 1.0,
            "SFU_DOWN_HOLD": 5.0,
        }
        env = {**env, "REDIS_URL": redis.url, "SIGNALING_SETTINGS": json.dumps(settings)}
        workers = [
            resources.enter_context(DaphneProcess(env, settings_module=env["DJANGO_SETTINGS_MODULE"])) for _ in range(2)
        ]
        room_ids = [f"bench-nodes-{n}-{uuid.uuid4().hex[:6]}" for n in range(options.rooms)]
        for room_id in room_ids:
            manage(
                env,
                "shell",
                "-c",
                f"from rooms.models import Room; Room.objects.create(id={room_id!r}, topology='sfu')",
            )
        rooms: dict[str, list[Peer]] = {}
        for index, room_id in enumerate(room_ids):
            members = []
            for seat in range(3):
                worker = workers[(index + seat) % 2]
                peer = Peer(worker.ws_url + SIGNAL_PATH, room_id, 40 + 30 * seat)
                await peer.call.connect()
                members.append(peer)
            rooms[room_id] = members
        everyone = [peer for members in rooms.values() for peer in members]

        def all_receive() -> bool:
            return all(
                peer.receives_from([o.call.peer_id or "" for o in members if o is not peer], 30)
                for members in rooms.values()
                for peer in members
            )

        if not await wait_for(all_receive, 60):
            print("Not every participant receives everyone: nothing to measure", flush=True)
            return
        print(f"{options.rooms} SFU rooms of 3 Python peers, on nodes: {placements(env)}", flush=True)

        await measure(
            "Drain of node a (manage.py sfu_nodes --drain a --wait 120)",
            rooms,
            lambda: manage(env, "sfu_nodes", "--drain", "a", "--wait", "120"),
        )
        print(f"  after: {placements(env)}", flush=True)
        manage(env, "sfu_nodes", "--undrain", "a")
        await measure("SIGKILL of node b (every room on it)", rooms, b.kill)
        print(f"  after: {placements(env)}", flush=True)
        b.start()
        await asyncio.sleep(6)  # node b's down mark expires

        def hang_a() -> None:
            assert a.process is not None
            os.kill(a.process.pid, signal.SIGSTOP)

        try:
            await measure("SIGSTOP of node a (every room on it; found by the health checks)", rooms, hang_a)
            print(f"  after: {placements(env)}", flush=True)
        finally:
            assert a.process is not None
            os.kill(a.process.pid, signal.SIGCONT)
        for peer in everyone:
            await peer.call.hangup()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sfu_nodes", description=__doc__.splitlines()[0])
    parser.add_argument("--rooms", type=int, default=4, help="SFU rooms of three peers each (default 4)")
    options = parser.parse_args()
    asyncio.run(run(options))


if __name__ == "__main__":
    main()
