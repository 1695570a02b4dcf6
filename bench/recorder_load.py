"""Load on the lifecycle recorder (``rooms.recorder``), through its own buffer and writer thread, into the database
Django is configured with. Every figure is checked against the rows that reached the database."""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.utils import timezone

from rooms.models import PeerSession, Room, RoomEvent
from rooms.recorder import EventRecorder, Record

Kind = RoomEvent.Kind
_serial = itertools.count()


@dataclass
class RecorderResult:
    events: int
    seconds: float
    lost: int
    lag_seconds: float = 0.0

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def _join(room_id: str, peer_id: str) -> list[Record]:
    at = timezone.now()
    return [
        Record(
            Kind.PEER_JOINED,
            {
                "room_id": room_id,
                "peer_id": peer_id,
                "at": at,
                "user_id": None,
                "client_address": "10.1.2.3",
                "user_agent": "bench",
            },
        ),
    ]


def _leave(room_id: str, peer_id: str) -> list[Record]:
    return [Record(Kind.PEER_LEFT, {"room_id": room_id, "peer_id": peer_id, "at": timezone.now(), "reason": "leave"})]


def _prefix() -> str:
    return f"bench-rec-{time.time_ns()}-{next(_serial)}"


async def _written(prefix: str) -> tuple[int, int]:
    """Events and closed sessions of this run in the database."""
    events = await RoomEvent.objects.filter(peer_id__startswith=prefix).acount()
    closed = await PeerSession.objects.filter(peer_id__startswith=prefix, left_at__isnull=False).acount()
    return events, closed


async def _burst(size: int) -> RecorderResult:
    recorder = EventRecorder()
    prefix = _prefix()
    rooms = [f"{prefix}-room-{n}" for n in range(max(size // 10, 1))]
    peers = [(rooms[n % len(rooms)], f"{prefix}-{n}") for n in range(size // 2)]
    started = time.perf_counter()
    for room_id, peer_id in peers:
        for record in _join(room_id, peer_id):
            recorder.add(record)
    await recorder.flush()
    # The leaves arrive in a burst of their own: their sessions were written by the previous batch.
    for room_id, peer_id in peers:
        for record in _leave(room_id, peer_id):
            recorder.add(record)
    await recorder.flush()
    seconds = time.perf_counter() - started
    events, closed = await _written(prefix)
    expected = 2 * len(peers)
    await _clean(prefix)
    return RecorderResult(events=expected, seconds=seconds, lost=(expected - events) + (len(peers) - closed))


def bursts(size: int) -> RecorderResult:
    return asyncio.run(_burst(size))


async def sustained(joins_per_second: int, seconds: float) -> RecorderResult:
    """Joins arrive one at a time at a steady rate, each peer leaving a second after it joined; at the end, how far
    behind the recorder is (until everything is written) and how much never arrived."""
    recorder = EventRecorder()
    prefix = _prefix()
    interval = 1 / joins_per_second
    joined: list[tuple[float, str, str]] = []
    started = time.perf_counter()
    n = 0
    left = 0
    while (now := time.perf_counter()) - started < seconds:
        due = int((now - started) / interval)
        while n < due:
            room_id, peer_id = f"{prefix}-room-{n % 100}", f"{prefix}-{n}"
            for record in _join(room_id, peer_id):
                recorder.add(record)
            joined.append((now, room_id, peer_id))
            n += 1
        while left < len(joined) and joined[left][0] < now - 1.0:
            for record in _leave(joined[left][1], joined[left][2]):
                recorder.add(record)
            left += 1
        await asyncio.sleep(interval / 2)
    end = time.perf_counter()
    await recorder.flush()
    lag = time.perf_counter() - end
    events, closed = await _written(prefix)
    expected = n + left
    await _clean(prefix)
    return RecorderResult(
        events=expected, seconds=end - started, lost=(expected - events) + (left - closed), lag_seconds=lag
    )


@sync_to_async
def _clean(prefix: str) -> None:
    RoomEvent.objects.filter(peer_id__startswith=prefix).delete()
    PeerSession.objects.filter(peer_id__startswith=prefix).delete()
    RoomEvent.objects.filter(room__id__startswith=prefix).delete()
    Room.objects.filter(id__startswith=prefix).delete()
