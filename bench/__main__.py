"""Benchmark command: ``.venv/bin/python -m bench`` (``--quick`` for a short run).

Starts the reference project under daphne (production settings, SQLite), with the in-process registry or with a
redis-server of its own and several workers, drives it from this process over real sockets on 127.0.0.1, and
prints what it measured next to the targets.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from bench import load
from rtcsite.servers import ROOT, DaphneProcess, RedisProcess

SIGNAL_PATH = "/api/call/signal"
BARE = "bench.bare:application"


def raise_file_limit() -> None:
    # 10,000 peers are 10,000 sockets on each side; daphne inherits this limit.
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Server:
    """Fresh daphne workers on a fresh SQLite database, for one scenario; with ``redis``, a redis-server of its
    own shared by the workers."""

    def __init__(self, workdir: Path, workers: int = 1, redis: bool = False, application: str | None = None) -> None:
        database = workdir / f"bench-{time.time_ns()}.sqlite3"
        self.env = {
            "RTCSITE_DATABASE_URL": f"sqlite:///{database}",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        }
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=ROOT,
            env={**os.environ, "DJANGO_SETTINGS_MODULE": "bench.settings", **self.env},
            check=True,
        )
        self.workers = workers
        self.application = application or "rtcsite.asgi:application"
        self.redis = RedisProcess() if redis else None
        self.resources = ExitStack()

    def __enter__(self) -> list[DaphneProcess]:
        env = dict(self.env)
        if self.redis is not None:
            env["REDIS_URL"] = self.resources.enter_context(self.redis).url
        return [
            self.resources.enter_context(
                DaphneProcess(env, settings_module="bench.settings", application=self.application)
            )
            for _ in range(self.workers)
        ]

    def __exit__(self, *exc: object) -> None:
        self.resources.close()


def line(name: str, value: str, target: str = "", met: bool | None = None) -> None:
    verdict = "" if met is None else ("met" if met else "NOT met")
    print(f"  {name:<44} {value:>22}   {target:<22} {verdict}", flush=True)


def run(workdir: Path, quick: bool) -> None:
    seconds = 3.0 if quick else 10.0
    peers = 2_000 if quick else 10_000

    def relay_figures(label: str, workers: int, redis: bool, split: bool, target: float) -> None:
        with Server(workdir, workers, redis) as daphnes:
            urls = [daphne.ws_url + SIGNAL_PATH for daphne in daphnes]
            receiver = urls[1] if split else None
            relay = asyncio.run(load.relay_closed_loop(urls[0], seconds=seconds, receiver_url=receiver))
        with Server(workdir, workers, redis) as daphnes:
            urls = [daphne.ws_url + SIGNAL_PATH for daphne in daphnes]
            receiver = urls[1] if split else None
            offered = asyncio.run(load.relay_open_loop(urls[0], rate=1000, seconds=seconds, receiver_url=receiver))
        print(label)
        line(
            "relayed messages/s (50 rooms x 2, 4 in flight)",
            f"{relay.per_second:,.0f}",
            f">= {target:,.0f}",
            relay.per_second >= target,
        )
        line("relay latency p50 / p99 at full load", f"{relay.p50_ms:.2f} / {relay.p99_ms:.2f} ms")
        line(
            "relay latency p50 / p99 at 1,000 msg/s offered",
            f"{offered.p50_ms:.2f} / {offered.p99_ms:.2f} ms",
            "p99 < 5 ms" if not split else "",
            offered.p99_ms < 5 if not split else None,
        )

    print("Floor on this machine now: a bare Channels consumer (no validation, no Redis, no database)")
    with Server(workdir, application=BARE) as (daphne,):
        bare = asyncio.run(load.relay_closed_loop(daphne.ws_url + SIGNAL_PATH, seconds=seconds))
    line("relayed messages/s (50 rooms x 2, 4 in flight)", f"{bare.per_second:,.0f}")
    with Server(workdir, application=BARE) as (daphne,):
        bare_joins, _ = asyncio.run(joins_and_weigh(daphne, peers))
    line(f"joins answered ({peers:,} peers, 200 at a time)", f"{bare_joins.answered:,} / {peers:,}")
    line("joins/s", f"{bare_joins.per_second:,.0f}")

    relay_figures("One worker, in-process registry (the embedded default)", 1, False, False, 5000)
    relay_figures("One worker, Redis registry, peers on the same worker", 1, True, False, 5000)
    relay_figures("Two workers, Redis registry, every pair split across them", 2, True, True, 2500)

    print("One worker, in-process registry: joins and idle peers")
    with Server(workdir) as (daphne,):
        gc.collect()
        before = daphne.rss_bytes()
        result, after = asyncio.run(joins_and_weigh(daphne, peers))
    line(
        f"joins answered ({peers:,} peers, 200 at a time)",
        f"{result.answered:,} / {peers:,}",
        "every join",
        result.answered == peers,
    )
    line("joins/s", f"{result.per_second:,.0f}", ">= 500", result.per_second >= 500)
    line("join latency p50 / p99", f"{result.p50_ms:.1f} / {result.p99_ms:.1f} ms", "p99 < 2 s", result.p99_ms < 2000)
    worker_joins(result)
    per_thousand = (after - before) / (peers / 1000)
    line(
        f"worker RSS with {peers:,} idle peers",
        f"{after / 2**20:,.0f} MB",
        "< 400 MB at 10,000",
        None if quick else after < 400 * 2**20,
    )
    line("memory per 1,000 idle peers", f"{per_thousand / 2**20:,.1f} MB")

    print("One worker, Redis registry: joins")
    with Server(workdir, 1, True) as (daphne,):
        result, _ = asyncio.run(joins_and_weigh(daphne, peers))
    line(
        f"joins answered ({peers:,} peers, 200 at a time)",
        f"{result.answered:,} / {peers:,}",
        "every join",
        result.answered == peers,
    )
    line("joins/s", f"{result.per_second:,.0f}", ">= 500", result.per_second >= 500)
    line("join latency p50 / p99", f"{result.p50_ms:.1f} / {result.p99_ms:.1f} ms", "p99 < 2 s", result.p99_ms < 2000)
    worker_joins(result)


def worker_joins(result: load.JoinResult) -> None:
    """What the joins cost the worker: the cores it used meanwhile (the load generator shares the machine), and
    the joins a second it would make with a core of its own."""
    cores = result.worker_cpu_seconds / result.seconds
    line("worker CPU during the joins", f"{cores:.2f} cores")
    per_cpu_second = result.answered / result.worker_cpu_seconds if result.worker_cpu_seconds else 0.0
    line("joins per CPU-second of the worker", f"{per_cpu_second:,.0f}")


async def joins_and_weigh(daphne: DaphneProcess, peers: int) -> tuple[load.JoinResult, int]:
    """Join ``peers`` peers, then weigh the worker while they sit idle; returns the joins and its RSS."""
    cpu = daphne.cpu_seconds()
    result = await load.joins(daphne.ws_url + SIGNAL_PATH, peers=peers)
    result.worker_cpu_seconds = daphne.cpu_seconds() - cpu
    # Let the recorder finish its writes before the worker is weighed.
    await asyncio.sleep(3)
    rss = daphne.rss_bytes()
    await load.close_all(result.sockets)
    return result, rss


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="3 s runs and 2,000 peers instead of 10 s and 10,000")
    args = parser.parse_args(argv)
    raise_file_limit()
    print(
        f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}, load generator and "
        "server on the same machine"
    )
    with tempfile.TemporaryDirectory(prefix="rtc-bench-") as workdir:
        run(Path(workdir), args.quick)


if __name__ == "__main__":
    main()
