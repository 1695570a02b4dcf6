"""Operational scenarios: ``.venv/bin/python -m bench.scenarios`` (``--rooms N``, ``--only NAME``).

Starts Redis, PostgreSQL (a fresh database), three daphne workers behind nginx (``deploy/nginx.conf``) and clients
that behave as the browser client does: they join through nginx with ``?room=``, send `ice` frames to their partner
continuously (100 rooms of 2 peers, 100 messages/s in all), and when their socket closes they reconnect (at once
after 1012, else after 100-300 ms) and `join` with their `resume` token. For each scenario it prints the peers,
the `peer-left` frames seen by reason, how many came back under their own id / under a new id / not at all, the
time from the drop to `joined` (p50/p99/max), and the messages sent, lost (sent but never received) and duplicated.
After the last scenario, with every client gone: the registry keys left in Redis and the sessions left open.
``BENCH_SHOW_LOGS=1`` prints the workers' logs at the end.

Scenarios: a rolling restart (SIGTERM each worker, wait for it to exit, start it again, next), the SIGKILL of one
worker (restarted afterwards), a Redis restart, and (on a stack of its own: a master, a replica and three sentinels,
``REDIS_URL=redis+sentinel://...``) a Sentinel failover: the master is killed and the replica promoted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import psycopg
import redis as redis_client
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from rtcsite.servers import (
    ROOT,
    DaphneProcess,
    NginxProcess,
    PostgresDatabase,
    RedisProcess,
    SentinelCluster,
    wait_for_port,
)

SIGNAL_PATH = "/api/call/signal"
DRAIN_SECONDS = 5.0
MESSAGES_PER_SECOND = 100.0


@dataclass
class Tally:
    """What the clients saw during one scenario."""

    left: Counter[str] = field(default_factory=Counter)
    same_id: int = 0
    new_id: int = 0
    back_times: list[float] = field(default_factory=list)

    def reset(self) -> None:
        self.left.clear()
        self.same_id = self.new_id = 0
        self.back_times = []


class Client:
    """One peer of a two-peer room, as the browser client behaves towards the server."""

    def __init__(self, url: str, room: str, tally: Tally) -> None:
        self.url = f"{url}?room={room}"
        self.room = room
        self.tally = tally
        self.socket: ClientConnection | None = None
        self.peer_id: str | None = None
        self.partner: str | None = None
        self.token: str | None = None
        self.sent = 0
        self.received: Counter[tuple[str, int]] = Counter()
        self.running = True
        self.joined = asyncio.Event()
        self.dropped_at: float | None = None
        # For the report of lost messages: when each was sent, when this client's sockets closed and rejoined.
        self.sent_at: dict[int, float] = {}
        self.drops: list[float] = []
        self.rejoins: list[float] = []

    async def run(self) -> None:
        while self.running:
            try:
                self.socket = await connect(self.url, open_timeout=5)
            except (OSError, WebSocketException, TimeoutError):
                await asyncio.sleep(0.2)
                continue
            code = None
            try:
                join: dict[str, Any] = {"t": "join", "roomId": self.room}
                if self.token:
                    join["resume"] = self.token
                await self.socket.send(json.dumps(join))
                async for text in self.socket:
                    self.on_message(json.loads(text))
            except WebSocketException:
                pass
            finally:
                if self.socket is not None and self.socket.close_code is not None:
                    code = self.socket.close_code
                self.socket = None
                self.joined.clear()
            if not self.running:
                return
            if self.dropped_at is None:
                self.dropped_at = time.monotonic()
            self.drops.append(time.monotonic())
            await asyncio.sleep(0 if code == 1012 else random.uniform(0.1, 0.3))

    def on_message(self, message: dict[str, Any]) -> None:
        kind = message.get("t")
        if kind == "joined":
            if self.peer_id is not None:
                if message["peerId"] == self.peer_id:
                    self.tally.same_id += 1
                else:
                    self.tally.new_id += 1
            if self.dropped_at is not None:
                self.tally.back_times.append(time.monotonic() - self.dropped_at)
                self.dropped_at = None
            self.rejoins.append(time.monotonic())
            self.peer_id, self.token = message["peerId"], message.get("resume")
            if message["peers"]:
                self.partner = message["peers"][0]
            self.joined.set()
        elif kind == "peer-joined":
            self.partner = message["peerId"]
        elif kind == "peer-left":
            self.tally.left[message.get("reason", "?")] += 1
        elif kind == "ice":
            sender, _, number = message["candidate"]["candidate"].partition(":")
            self.received[(sender, int(number))] += 1

    async def send_one(self) -> None:
        socket, partner = self.socket, self.partner
        if socket is None or partner is None or not self.joined.is_set():
            return
        text = json.dumps({"t": "ice", "to": partner, "candidate": {"candidate": f"{self.peer_id}:{self.sent}"}})
        try:
            await socket.send(text)
        except WebSocketException:
            return
        self.sent_at[self.sent] = time.monotonic()
        self.sent += 1

    async def stop(self) -> None:
        self.running = False
        if self.socket is not None:
            await self.socket.close()


async def traffic(clients: list[Client], stop: asyncio.Event) -> None:
    """MESSAGES_PER_SECOND frames in all, spread over the clients."""
    interval = 1 / MESSAGES_PER_SECOND
    while not stop.is_set():
        for client in clients:
            if stop.is_set():
                return
            await client.send_one()
            await asyncio.sleep(interval)


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class Stack:
    def __init__(self, sentinel: bool = False) -> None:
        self.resources = ExitStack()
        self.database = self.resources.enter_context(PostgresDatabase())
        self.sentinels = self.resources.enter_context(SentinelCluster()) if sentinel else None
        self.redis = self.sentinels.master if self.sentinels else self.resources.enter_context(RedisProcess())
        redis_url = self.sentinels.url if self.sentinels else self.redis.url
        self.env = {
            "RTCSITE_DATABASE_URL": self.database.url,
            "REDIS_URL": redis_url,
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "SIGNALING_SETTINGS": json.dumps({"DRAIN_SECONDS": DRAIN_SECONDS}),
        }
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=ROOT,
            check=True,
            env={**os.environ, "DJANGO_SETTINGS_MODULE": "bench.settings", **self.env},
        )
        self.workers = [
            self.resources.enter_context(
                DaphneProcess(self.env, settings_module="bench.settings", args=("--proxy-headers",))
            )
            for _ in range(3)
        ]
        self.nginx = self.resources.enter_context(NginxProcess([worker.port for worker in self.workers]))

    def store(self) -> redis_client.Redis:
        if self.sentinels is not None:
            return redis_client.Redis(port=self.sentinels.master_port(), decode_responses=True)
        return redis_client.Redis.from_url(self.redis.url, decode_responses=True)

    def close(self) -> None:
        if os.environ.get("BENCH_SHOW_LOGS"):
            for worker in self.workers:
                print(f"--- daphne {worker.port}")
                lines = worker.output().splitlines()
                print("\n".join(line for line in lines if "WS" not in line and "HTTP" not in line))
        self.resources.close()


async def settle(clients: list[Client], seconds: float = 3.0) -> None:
    """Let the call run, then wait until every client is in its room."""
    await asyncio.sleep(seconds)
    await asyncio.wait_for(asyncio.gather(*(client.joined.wait() for client in clients)), 30)


async def rolling_restart(stack: Stack) -> None:
    for worker in stack.workers:
        assert worker.process is not None
        os.kill(worker.pid, signal.SIGTERM)
        await asyncio.to_thread(worker.process.wait, DRAIN_SECONDS + 10)
        await asyncio.to_thread(worker.start)
        await asyncio.to_thread(wait_for_port, worker.port)
        await asyncio.sleep(1)


async def kill_one(stack: Stack) -> None:
    worker = stack.workers[0]
    assert worker.process is not None
    os.kill(worker.pid, signal.SIGKILL)
    await asyncio.to_thread(worker.process.wait, 10)
    await asyncio.sleep(8)  # reaped meanwhile
    await asyncio.to_thread(worker.start)
    await asyncio.to_thread(wait_for_port, worker.port)


async def restart_redis(stack: Stack) -> None:
    await asyncio.to_thread(stack.redis.restart, 0.5)
    await asyncio.sleep(3)


async def fail_over(stack: Stack) -> None:
    assert stack.sentinels is not None
    old = stack.sentinels.master_port()
    stack.sentinels.kill_master()
    deadline = time.monotonic() + 30
    while stack.sentinels.master_port() == old and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    await asyncio.sleep(3)


SCENARIOS = {"rolling-restart": rolling_restart, "sigkill": kill_one, "redis-restart": restart_redis}
#: Run on a stack of their own, whose Redis is a master and a replica under three sentinels.
SENTINEL_SCENARIOS = {"sentinel-failover": fail_over}


async def run(rooms: int, only: list[str]) -> None:
    plain = [name for name in SCENARIOS if not only or name in only]
    with_sentinel = [name for name in SENTINEL_SCENARIOS if not only or name in only]
    if plain:
        await run_on(Stack(), rooms, {name: SCENARIOS[name] for name in plain})
    if with_sentinel:
        await run_on(Stack(sentinel=True), rooms, {name: SENTINEL_SCENARIOS[name] for name in with_sentinel})


async def run_on(stack: Stack, rooms: int, scenarios: dict[str, Any]) -> None:
    try:
        tally = Tally()
        url = stack.nginx.ws_url + SIGNAL_PATH
        clients = [Client(url, f"room-{n}", tally) for n in range(rooms) for _ in range(2)]
        tasks = [asyncio.create_task(client.run()) for client in clients]
        await settle(clients)
        for name, scenario in scenarios.items():
            tally.reset()
            sent_before = {id(c): c.sent for c in clients}
            stop = asyncio.Event()
            sender = asyncio.create_task(traffic(clients, stop))
            await asyncio.sleep(2)
            started = time.monotonic()
            await scenario(stack)
            await settle(clients, 2)
            stop.set()
            await sender
            await asyncio.sleep(1.5)  # the last frames land
            report(name, clients, tally, sent_before, time.monotonic() - started)
        for client in clients:
            await client.stop()
        for task in tasks:
            task.cancel()
        await asyncio.sleep(DRAIN_SECONDS)
        store = stack.store()
        keys = [
            key
            for key in store.keys("signaling:*")
            if not key.startswith(
                (
                    "signaling:workers",
                    "signaling:hb:",
                    "signaling:clock",
                    "signaling:epoch",
                    "signaling:gone:",
                    "signaling:peers:",
                )
            )
        ]
        with psycopg.connect(stack.database.url) as connection:
            open_sessions = connection.execute(
                "SELECT count(*) FROM rooms_peersession WHERE left_at IS NULL"
            ).fetchone()
        print("after every client left")
        print(f"  registry keys left in Redis: {len(keys)} {keys[:5]}")
        print(f"  peer sessions still open:    {open_sessions[0] if open_sessions else '?'}")
    finally:
        stack.close()


def report(name: str, clients: list[Client], tally: Tally, sent_before: dict[int, int], seconds: float) -> None:
    by_id = {client.peer_id: client for client in clients}
    sent = lost = duplicated = 0
    for client in clients:
        partner = by_id.get(client.partner)
        for number in range(sent_before[id(client)], client.sent):
            sent += 1
            copies = partner.received[(str(client.peer_id), number)] if partner else 0
            lost += copies == 0
            duplicated += copies > 1
    times = tally.back_times
    print(f"{name} ({seconds:.1f} s)")
    print(f"  peers {len(clients)}; peer-left seen: {dict(tally.left) or 0}")
    print(
        f"  came back: same id {tally.same_id}, new id {tally.new_id}, "
        f"not back {sum(1 for c in clients if not c.joined.is_set())}"
    )
    print(
        f"  drop to joined: p50 {percentile(times, 0.5) * 1000:.0f} ms, p99 {percentile(times, 0.99) * 1000:.0f} ms, "
        f"max {max(times, default=0) * 1000:.0f} ms (of {len(times)})"
    )
    print(f"  messages: sent {sent}, lost {lost}, duplicated {duplicated}", flush=True)
    if os.environ.get("BENCH_SHOW_LOST"):
        for client in clients:
            partner = by_id.get(client.partner)
            for number in range(sent_before[id(client)], client.sent):
                if partner and not partner.received[(str(client.peer_id), number)]:
                    at = client.sent_at[number]
                    near = [round(t - at, 3) for t in client.drops + partner.drops if abs(t - at) < 2]
                    back = [round(t - at, 3) for t in partner.rejoins if abs(t - at) < 2]
                    print(f"    lost {client.peer_id}:{number}: sender/receiver drops {near}, receiver rejoins {back}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scenarios", description=__doc__)
    parser.add_argument("--rooms", type=int, default=100, help="two-peer rooms (default 100)")
    parser.add_argument(
        "--only", action="append", default=[], choices=[*SCENARIOS, *SENTINEL_SCENARIOS], help="run only this one"
    )
    args = parser.parse_args(argv)
    asyncio.run(run(args.rooms, args.only))


if __name__ == "__main__":
    main()
