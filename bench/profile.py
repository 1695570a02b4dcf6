"""Where a join's time and an idle peer's memory go: ``.venv/bin/python -m bench.profile [--peers N] [--time]``.

Starts the reference project under daphne with a profiler (``bench.traced``), joins a few peers to warm it up,
then joins ``--peers`` more (two a room, 200 at a time, as ``python -m bench``) and leaves them idle.

- Memory (the default): a ``tracemalloc`` snapshot before and after; what the peers added, per peer, by the line
  that allocated it and by whom it was for (the most recent frame outside the standard library: a dict that
  ``asyncio`` makes for daphne counts for daphne). RSS growth per peer beside it: tracemalloc sees Python's
  allocations only.
- ``--time``: ``cProfile`` of the worker over the joins (handshakes included); its own time by package, and the
  functions that took the most. cProfile slows every call down, small ones most: the shares are what to read.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pstats
import signal
import sysconfig
import tempfile
import time
import tracemalloc
from collections import Counter
from pathlib import Path

from websockets.asyncio.client import ClientConnection

from bench import load
from bench.__main__ import SIGNAL_PATH, Server, raise_file_limit
from rtcsite.servers import ROOT, DaphneProcess

STDLIB = sysconfig.get_paths()["stdlib"]


def dump(daphne: DaphneProcess, directory: Path) -> Path:
    """Have the worker write its profile; the file's path."""
    before = set(directory.glob("*.done"))
    os.kill(daphne.pid, signal.SIGUSR1)
    deadline = time.monotonic() + 120
    while not set(directory.glob("*.done")) - before:
        if time.monotonic() > deadline:
            raise TimeoutError("the worker wrote no profile")
        time.sleep(0.1)
    (done,) = set(directory.glob("*.done")) - before
    return directory / done.name.removesuffix(".done")


def package_of(filename: str) -> str | None:
    """The installed package or the folder of ours ``filename`` is in; None for the standard library."""
    if "site-packages/" in filename:
        return filename.split("site-packages/")[1].split("/")[0]
    if filename.startswith(str(ROOT)):
        return "ours: " + str(Path(filename).relative_to(ROOT)).split("/")[0]
    if filename.startswith(STDLIB) or filename.startswith("<") or filename == "~":
        return None
    return filename


def short(filename: str) -> str:
    return filename.split("site-packages/")[-1].removeprefix(str(ROOT) + "/").removeprefix(STDLIB + "/")


def owner(frames: tracemalloc.Traceback) -> str:
    """The package of the most recent frame that is not the standard library's: who the allocation was for."""
    for frame in reversed(frames):
        package = package_of(frame.filename)
        if package is not None:
            return package
    return "standard library: " + short(frames[-1].filename) if len(frames) else "?"


def memory_report(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, peers: int, tracebacks: int = 0) -> None:
    lines = after.compare_to(before, "lineno")
    total = sum(stat.size_diff for stat in lines)
    print(f"Python allocations added: {total / peers:,.0f} bytes per peer ({total / 2**20:,.1f} MiB)")
    print("\nBy the line that allocated (bytes per peer, allocations per peer):")
    for stat in sorted(lines, key=lambda s: s.size_diff, reverse=True)[:25]:
        frame = stat.traceback[0]
        where = f"{short(frame.filename)}:{frame.lineno}"
        print(f"  {stat.size_diff / peers:8,.0f} B  {stat.count_diff / peers:6.1f}  {where}")
    owners: Counter[str] = Counter()
    by_traceback = after.compare_to(before, "traceback")
    for stat in by_traceback:
        owners[owner(stat.traceback)] += stat.size_diff
    print("\nBy whom it was for (the most recent frame outside the standard library):")
    for name, size in owners.most_common(15):
        print(f"  {size / peers:8,.0f} B  {name}")
    for stat in sorted(by_traceback, key=lambda s: s.size_diff, reverse=True)[:tracebacks]:
        print(f"\n{stat.size_diff / peers:,.0f} B per peer ({stat.count_diff / peers:.1f} allocations) from:")
        for frame in stat.traceback:
            print(f"    {short(frame.filename)}:{frame.lineno}")


def time_report(path: Path, peers: int, callers: str | None = None) -> None:
    stats = pstats.Stats(str(path))
    if callers:
        stats.sort_stats("tottime").print_callers(callers)
    table = stats.stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in table.values())
    print(f"Profiled time in the worker: {total:,.2f} s, {total / peers * 1000:,.2f} ms per join (under cProfile)")
    by_package: Counter[str] = Counter()
    for (filename, _line, _name), entry in table.items():
        by_package[package_of(filename) or "standard library"] += entry[2]
    print("\nOwn time by package:")
    for name, seconds in by_package.most_common(12):
        print(f"  {seconds / total:6.1%}  {seconds:7.2f} s  {name}")
    print("\nFunctions by own time:")
    ranked = sorted(table.items(), key=lambda item: item[1][2], reverse=True)[:25]
    for (filename, line, name), entry in ranked:
        print(f"  {entry[2] / total:6.1%}  {entry[1]:>8,} calls  {short(filename)}:{line} {name}")


async def join_and_hold(url: str, peers: int) -> load.JoinResult:
    result = await load.joins(url, peers=peers)
    await asyncio.sleep(3)  # the recorder's writes of the joins settle
    return result


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.splitlines()[0])
    parser.add_argument("--peers", type=int, default=1000)
    parser.add_argument("--time", action="store_true", help="profile the joins' time instead of the memory")
    parser.add_argument("--frames", type=int, default=12, help="frames kept per allocation (memory)")
    parser.add_argument("--tracebacks", type=int, default=0, help="show where the N largest allocations came from")
    parser.add_argument("--callers", help="show who called the functions this matches (time)")
    args = parser.parse_args()
    raise_file_limit()
    with tempfile.TemporaryDirectory(prefix="rtc-profile-") as workdir:
        directory = Path(workdir) / "profiles"
        directory.mkdir()
        server = Server(Path(workdir), application="bench.traced:application")
        server.env.update(
            {
                "RTC_PROFILE_DIR": str(directory),
                "RTC_PROFILE": "time" if args.time else "memory",
                "RTC_TRACEMALLOC_FRAMES": str(args.frames),
            }
        )
        with server as (daphne,):
            url = daphne.ws_url + SIGNAL_PATH
            loop = asyncio.new_event_loop()
            warm: list[ClientConnection] = loop.run_until_complete(join_and_hold(url, 20)).sockets
            first, rss_first = dump(daphne, directory), daphne.rss_bytes()
            result = loop.run_until_complete(join_and_hold(url, args.peers))
            second, rss_second = dump(daphne, directory), daphne.rss_bytes()
            print(
                f"{result.answered:,} of {args.peers:,} peers joined ({result.per_second:,.0f} joins/s, p99 "
                f"{result.p99_ms:,.0f} ms, under the profiler); RSS growth {(rss_second - rss_first) / args.peers:,.0f}"
                " bytes per peer (the profiler's own in it)"
            )
            if args.time:
                time_report(second, args.peers, args.callers)
            else:
                snapshots = [tracemalloc.Snapshot.load(str(path)) for path in (first, second)]
                memory_report(*snapshots, args.peers, args.tracebacks)
            loop.run_until_complete(load.close_all([*warm, *result.sockets]))
            loop.close()


if __name__ == "__main__":
    main()
