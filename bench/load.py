"""Load scenarios against a running signaling endpoint: relayed messages, joins, idle peers.

Each scenario is a coroutine taking the endpoint's ``ws://`` URL and returning what it measured.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

#: Size of each client ``ice`` frame, as the issue's load specifies.
MESSAGE_BYTES = 200


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def open_socket(url: str) -> ClientConnection:
    # No client keep-alive pings: they would be traffic the benchmark did not ask for.
    return await connect(url, ping_interval=None, max_queue=None, open_timeout=60)


async def join(socket: ClientConnection, room_id: str) -> dict[str, Any]:
    await socket.send(json.dumps({"t": "join", "roomId": room_id}))
    while True:
        message: dict[str, Any] = json.loads(await socket.recv())
        if message["t"] in ("joined", "error"):
            return message


async def open_pairs(
    url: str, rooms: int, prefix: str, receiver_url: str | None = None
) -> list[tuple[ClientConnection, ClientConnection, str]]:
    """``rooms`` rooms of two peers, the receiver on ``receiver_url`` when given; returns (sender, receiver,
    receiver's peer id) per room."""

    async def pair(index: int) -> tuple[ClientConnection, ClientConnection, str]:
        sender, receiver = await open_socket(url), await open_socket(receiver_url or url)
        room_id = f"{prefix}-{index}"
        await join(sender, room_id)
        joined = await join(receiver, room_id)
        await asyncio.wait_for(sender.recv(), 30)  # peer-joined
        return sender, receiver, joined["peerId"]

    return list(await asyncio.gather(*(pair(index) for index in range(rooms))))


def ice_frame(to: str, sent_ns: int) -> str:
    """A client ``ice`` frame of exactly MESSAGE_BYTES carrying its send time."""
    stamp = f"{sent_ns}:"
    skeleton = json.dumps({"t": "ice", "to": to, "candidate": {"candidate": stamp}}, separators=(",", ":"))
    return skeleton.replace(stamp, stamp + "x" * (MESSAGE_BYTES - len(skeleton)))


def sent_ns_of(frame: str | bytes) -> int:
    message = json.loads(frame)
    return int(message["candidate"]["candidate"].split(":", 1)[0])


@dataclass
class Latencies:
    latencies_ms: list[float] = field(repr=False)

    @property
    def p50_ms(self) -> float:
        return percentile(self.latencies_ms, 0.50)

    @property
    def p99_ms(self) -> float:
        return percentile(self.latencies_ms, 0.99)


@dataclass
class RelayResult(Latencies):
    messages: int = 0
    seconds: float = 1.0

    @property
    def per_second(self) -> float:
        return self.messages / self.seconds


async def close_all(sockets: list[ClientConnection]) -> None:
    await asyncio.gather(*(socket.close() for socket in sockets), return_exceptions=True)


async def relay_closed_loop(
    url: str,
    rooms: int = 50,
    in_flight: int = 4,
    seconds: float = 10,
    warmup: float = 2,
    receiver_url: str | None = None,
) -> RelayResult:
    """As fast as the server goes: each room keeps ``in_flight`` messages on their way from one peer to the other."""
    pairs = await open_pairs(url, rooms, f"closed-{time.time_ns()}", receiver_url)
    latencies: list[float] = []
    window = {"measuring": False, "count": 0}
    stop = asyncio.Event()

    async def room(sender: ClientConnection, receiver: ClientConnection, to: str) -> None:
        slots = asyncio.Semaphore(in_flight)

        async def send_loop() -> None:
            while not stop.is_set():
                await slots.acquire()
                await sender.send(ice_frame(to, time.perf_counter_ns()))

        async def receive_loop() -> None:
            while not stop.is_set():
                frame = await receiver.recv()
                if window["measuring"]:
                    latencies.append((time.perf_counter_ns() - sent_ns_of(frame)) / 1e6)
                    window["count"] += 1
                slots.release()

        await asyncio.gather(send_loop(), receive_loop())

    tasks = [asyncio.ensure_future(room(*pair)) for pair in pairs]
    await asyncio.sleep(warmup)
    window["measuring"] = True
    started = time.perf_counter()
    await asyncio.sleep(seconds)
    window["measuring"] = False
    elapsed = time.perf_counter() - started
    stop.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await close_all([socket for pair in pairs for socket in pair[:2]])
    return RelayResult(latencies, messages=window["count"], seconds=elapsed)


async def relay_open_loop(
    url: str, rooms: int = 50, rate: float = 1000, seconds: float = 10, receiver_url: str | None = None
) -> RelayResult:
    """Latency at a fixed offered load: ``rate`` messages per second in all, spread evenly over the rooms."""
    pairs = await open_pairs(url, rooms, f"open-{time.time_ns()}", receiver_url)
    latencies: list[float] = []
    interval = rooms / rate
    expected = int(seconds / interval)
    started = time.perf_counter()

    async def room(index: int, sender: ClientConnection, receiver: ClientConnection, to: str) -> None:
        async def send_loop() -> None:
            # An absolute schedule, offset per room, so the load stays even and does not drift.
            first = started + index * interval / rooms
            for tick in range(expected):
                delay = first + tick * interval - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                await sender.send(ice_frame(to, time.perf_counter_ns()))

        async def receive_loop() -> None:
            for _ in range(expected):
                frame = await receiver.recv()
                latencies.append((time.perf_counter_ns() - sent_ns_of(frame)) / 1e6)

        await asyncio.gather(send_loop(), receive_loop())

    await asyncio.wait_for(asyncio.gather(*(room(index, *pair) for index, pair in enumerate(pairs))), seconds + 30)
    elapsed = time.perf_counter() - started
    await close_all([socket for pair in pairs for socket in pair[:2]])
    return RelayResult(latencies, messages=len(latencies), seconds=elapsed)


@dataclass
class JoinResult(Latencies):
    peers: int = 0
    answered: int = 0
    admitted: int = 0
    seconds: float = 1.0
    sockets: list[ClientConnection] = field(default_factory=list, repr=False)
    #: The CPU time the worker used over the joins (set by whoever can read it: the worker's process).
    worker_cpu_seconds: float = 0.0

    @property
    def per_second(self) -> float:
        return self.answered / self.seconds


async def joins(url: str, peers: int = 10_000, concurrency: int = 200) -> JoinResult:
    """``peers`` peers, two per room, connect and join ``concurrency`` at a time; their sockets stay open."""
    prefix = f"joins-{time.time_ns()}"
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    sockets: list[ClientConnection] = []
    outcomes: list[str] = []

    async def one(index: int) -> None:
        async with gate:
            try:
                socket = await open_socket(url)
            except (OSError, WebSocketException):
                outcomes.append("refused")  # the server did not complete the handshake in time
                return
            sockets.append(socket)
            started = time.perf_counter()
            answer = await join(socket, f"{prefix}-{index // 2}")
            latencies.append((time.perf_counter() - started) * 1000)
            outcomes.append(answer["t"])

    started = time.perf_counter()
    await asyncio.gather(*(one(index) for index in range(peers)))
    elapsed = time.perf_counter() - started
    answered = len(outcomes) - outcomes.count("refused")
    return JoinResult(
        latencies,
        peers=peers,
        answered=answered,
        admitted=outcomes.count("joined"),
        seconds=elapsed,
        sockets=sockets,
    )
