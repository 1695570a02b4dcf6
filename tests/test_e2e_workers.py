"""Several workers behind nginx: three real daphne processes, nginx running deploy/nginx.conf, a Redis of the
tests' own and a fresh PostgreSQL database. Clients connect through nginx over real sockets.

The module's last three tests restart Redis and kill a worker each; they run last, in file order.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
import redis as redis_client
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from rtcsite.servers import ROOT, DaphneProcess, NginxProcess, PostgresDatabase, RedisProcess
from tests.wsclient import eventually, offer_and_answer, receive, send

SIGNAL_PATH = "/api/call/signal"
PREFIX = "signaling"
# Short, so that a peer that never comes back leaves soon enough for the suite.
RESUME_GRACE = 3.0


@dataclass
class Stack:
    database: PostgresDatabase
    redis: RedisProcess
    workers: list[DaphneProcess]
    nginx: NginxProcess

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database.url, autocommit=True) as connection:
            cursor = connection.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    def store(self) -> redis_client.Redis:
        return redis_client.Redis.from_url(self.redis.url, decode_responses=True)

    def worker_of(self, room_id: str, peer_id: str) -> str:
        value = self.store().hget(f"{PREFIX}:room:{room_id}", peer_id)
        assert value, f"{peer_id} is not in {room_id} in Redis"
        return str(value).split("|")[0]

    def pid_of(self, worker: str) -> int:
        # The heartbeat names the worker's process; after a Redis restart it is back with the next beat.
        deadline = time.monotonic() + 10
        while (beat := self.store().get(f"{PREFIX}:hb:{worker}")) is None:
            assert time.monotonic() < deadline, f"no heartbeat of {worker}"
            time.sleep(0.1)
        return int(str(beat).rsplit(":", 1)[1])

    def url(self, room: str | None = None) -> str:
        return self.nginx.ws_url + SIGNAL_PATH + (f"?room={room}" if room else "")


ADDRESS_BUDGETS_FOR_ONE_CLIENT_ADDRESS = {
    "JOIN_RATE_PER_ADDRESS": 10_000.0,
    "JOIN_BURST_PER_ADDRESS": 10_000,
    "ROOM_CREATION_RATE_PER_ADDRESS": 10_000.0,
    "ROOM_CREATION_BURST_PER_ADDRESS": 10_000,
}


@contextlib.contextmanager
def running_stack(signaling: dict[str, Any], superuser: bool = False) -> Iterator[Stack]:
    """PostgreSQL, Redis, three daphne workers of the reference project (with these SIGNALING settings) and nginx.

    Every client of these tests comes from 127.0.0.1: the per-address budgets for joins and new rooms (tested on
    their own in test_hardening) are raised, or a module's probes and rooms would use them up and make its later
    tests depend on how fast the earlier ones ran."""
    signaling = {**ADDRESS_BUDGETS_FOR_ONE_CLIENT_ADDRESS, **signaling}
    with ExitStack() as resources:
        database = resources.enter_context(PostgresDatabase())
        redis = resources.enter_context(RedisProcess())
        env = {
            "RTCSITE_DATABASE_URL": database.url,
            "REDIS_URL": redis.url,
            "SIGNALING_SETTINGS": json.dumps(signaling),
        }
        manage = {**os.environ, "DJANGO_SETTINGS_MODULE": "rtcsite.settings", **env}
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=manage, check=True
        )
        if superuser:
            subprocess.run(
                [
                    sys.executable,
                    "manage.py",
                    "createsuperuser",
                    "--noinput",
                    "--username",
                    "staff",
                    "--email",
                    "staff@example.test",
                ],
                cwd=ROOT,
                check=True,
                capture_output=True,
                env={**manage, "DJANGO_SUPERUSER_PASSWORD": "staff-password"},
            )
        workers = [resources.enter_context(DaphneProcess(env, args=("--proxy-headers",))) for _ in range(3)]
        nginx = resources.enter_context(NginxProcess([worker.port for worker in workers]))
        yield Stack(database, redis, workers, nginx)
        for worker in workers:
            print(f"--- daphne {worker.port}\n{worker.output()}")


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with running_stack({"RESUME_GRACE": RESUME_GRACE}, superuser=True) as running:
        yield running


async def join(socket: ClientConnection, room_id: str) -> dict[str, Any]:
    await send(socket, t="join", roomId=room_id)
    answer = await receive(socket)
    assert answer["t"] == "joined", answer
    return answer


async def sockets_on_workers(stack: Stack, count: int, distinct: int) -> list[tuple[ClientConnection, str]]:
    """Open sockets through nginx until ``count`` of them sit on ``distinct`` different workers."""
    chosen: list[tuple[ClientConnection, str]] = []
    spare: list[ClientConnection] = []
    for attempt in range(60):
        socket = await connect(stack.url())
        probe = f"probe-{time.time_ns()}-{attempt}"
        joined = await join(socket, probe)
        worker = stack.worker_of(probe, joined["peerId"])
        await send(socket, t="leave")
        used = {w for _, w in chosen}
        if worker not in used or len(used) >= distinct:
            chosen.append((socket, worker))
        else:
            spare.append(socket)
        if len(chosen) == count and len({w for _, w in chosen}) >= distinct:
            break
    for socket in spare:
        await socket.close()
    assert len({w for _, w in chosen}) >= distinct, "nginx never spread connections over the workers"
    return chosen


async def test_peers_on_different_workers_complete_the_seed_protocol(stack: Stack) -> None:
    (alice, worker_a), (bob, worker_b) = await sockets_on_workers(stack, 2, 2)
    assert worker_a != worker_b
    room = f"call-{time.time_ns()}"
    a = (await join(alice, room))["peerId"]
    joined_b = await join(bob, room)
    b = joined_b["peerId"]
    assert joined_b["peers"] == [a]
    assert await receive(alice) == {"t": "peer-joined", "peerId": b}
    assert stack.worker_of(room, a) == worker_a
    assert stack.worker_of(room, b) == worker_b

    await offer_and_answer(bob, b, alice, a)
    for index in range(20):
        await send(alice, t="ice", to=b, candidate={"candidate": f"candidate:{index}", "sdpMid": "0"})
    assert [(await receive(bob))["candidate"]["candidate"] for _ in range(20)] == [
        f"candidate:{index}" for index in range(20)
    ]
    await send(bob, t="ice", candidate={"candidate": "from-b"})
    assert (await receive(alice))["candidate"] == {"candidate": "from-b"}

    await bob.close()
    assert await receive(alice) == {"t": "peer-left", "peerId": b, "reason": "disconnect"}
    await alice.close()
    await eventually(
        lambda: (
            stack.sql("SELECT count(*) FROM rooms_roomevent WHERE room_id = %s AND kind = 'room_destroyed'", room)[0][0]
            == 1
        )
    )
    sessions = dict(stack.sql("SELECT peer_id, leave_reason FROM rooms_peersession WHERE room_id = %s", room))
    assert sessions == {a: "disconnect", b: "disconnect"}
    addresses = {
        row[0] for row in stack.sql("SELECT host(client_address) FROM rooms_peersession WHERE room_id = %s", room)
    }
    assert addresses == {"127.0.0.1"}  # forwarded by nginx, read by daphne --proxy-headers


async def test_names_and_media_cross_workers_and_reach_late_joiners(stack: Stack) -> None:
    (alice, worker_a), (bob, worker_b), (carol, _) = await sockets_on_workers(stack, 3, 2)
    assert worker_a != worker_b
    room = f"state-{time.time_ns()}"
    stack.sql(
        "INSERT INTO rooms_room (id, name, max_peers, is_open, created_at, updated_at) "
        "VALUES (%s, '', 4, true, now(), now())",
        room,
    )
    await send(alice, t="join", roomId=room, metadata={"name": "Ada"})
    a = (await receive(alice))["peerId"]
    await send(bob, t="join", roomId=room, metadata={"name": "Bob"}, media={"audio": True, "video": True})
    b = (await receive(bob))["peerId"]
    assert await receive(alice) == {
        "t": "peer-joined",
        "peerId": b,
        "metadata": {"name": "Bob"},
        "media": {"audio": True, "video": True},
    }
    # An update on one worker reaches the other, and Redis keeps it for whoever joins next, on any worker.
    await send(alice, t="update", media={"audio": False, "video": True, "screen": False})
    assert await receive(bob) == {
        "t": "peer-updated",
        "peerId": a,
        "media": {"audio": False, "video": True, "screen": False},
    }
    carol_joined = await join(carol, room)
    assert carol_joined["metadata"] == {a: {"name": "Ada"}, b: {"name": "Bob"}}
    assert carol_joined["media"] == {
        a: {"audio": False, "video": True, "screen": False},
        b: {"audio": True, "video": True},
    }
    await eventually(
        lambda: stack.sql("SELECT display_name FROM rooms_peersession WHERE peer_id = %s", a) == [("Ada",)]
    )
    for socket in (alice, bob, carol):
        await socket.close()
    await eventually(lambda: not stack.store().exists(f"{PREFIX}:room:{room}"))
    assert not stack.store().exists(f"{PREFIX}:state:{room}")


async def test_room_affinity_keeps_a_room_on_one_worker(stack: Stack) -> None:
    room = f"affinity-{time.time_ns()}"
    stack.sql(
        "INSERT INTO rooms_room (id, name, max_peers, is_open, created_at, updated_at) "
        "VALUES (%s, '', 6, true, now(), now())",
        room,
    )
    sockets = [await connect(stack.url(room)) for _ in range(6)]
    try:
        ids = [(await join(socket, room))["peerId"] for socket in sockets]
        assert len({stack.worker_of(room, peer) for peer in ids}) == 1
    finally:
        for socket in sockets:
            await socket.close()


async def test_forty_joins_over_three_workers_admit_exactly_four(stack: Stack) -> None:
    chosen = await sockets_on_workers(stack, 3, 3)
    sockets = [socket for socket, _ in chosen] + [await connect(stack.url()) for _ in range(37)]
    room = f"crowded-{time.time_ns()}"
    stack.sql(
        "INSERT INTO rooms_room (id, name, max_peers, is_open, created_at, updated_at) "
        "VALUES (%s, '', 4, true, now(), now())",
        room,
    )
    try:
        await asyncio.gather(*(send(socket, t="join", roomId=room) for socket in sockets))
        answers = await asyncio.gather(*(receive(socket) for socket in sockets))
        assert sum(answer["t"] == "joined" for answer in answers) == 4
        refused = [answer for answer in answers if answer["t"] == "error"]
        assert len(refused) == 36
        assert {answer["code"] for answer in refused} == {"room-full"}
        assert stack.store().hlen(f"{PREFIX}:room:{room}") == 4
    finally:
        for socket in sockets:
            await socket.close()


def staff_request(stack: Stack, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """A REST call through nginx as the staff user, with HTTP Basic authentication."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{stack.nginx.port}{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={
            "Authorization": "Basic " + base64.b64encode(b"staff:staff-password").decode(),
            "Content-Type": "application/json",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


async def test_staff_kick_through_rest_reaches_both_workers_within_a_second(stack: Stack) -> None:
    (alice, _worker_a), (bob, _worker_b) = await sockets_on_workers(stack, 2, 2)
    room = f"moderated-{time.time_ns()}"
    a = (await join(alice, room))["peerId"]
    b = (await join(bob, room))["peerId"]
    await receive(alice)  # peer-joined
    assert stack.worker_of(room, a) != stack.worker_of(room, b)
    # Ad-hoc rooms are stored on first join; the live count adds up both workers' peers.
    await eventually(lambda: bool(stack.sql("SELECT 1 FROM rooms_room WHERE id = %s", room)))
    listed = await asyncio.to_thread(staff_request, stack, "GET", f"/api/rooms/?search={room}")
    assert [(r["id"], r["live_peers"]) for r in listed["results"]] == [(room, 2)]
    detail = await asyncio.to_thread(staff_request, stack, "GET", f"/api/rooms/{room}/")
    assert detail["peers"] == sorted([a, b])
    started = time.monotonic()
    # Whichever worker nginx picks for the REST call, the kick reaches bob's.
    assert await asyncio.to_thread(staff_request, stack, "POST", f"/api/rooms/{room}/kick", {"peer_id": b}) == {
        "kicked": True
    }
    assert await receive(bob) == {"t": "closed", "reason": "kicked"}
    with pytest.raises(ConnectionClosed) as closed:
        await bob.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4010
    assert await receive(alice) == {"t": "peer-left", "peerId": b, "reason": "kicked"}
    elapsed = time.monotonic() - started
    print(f"REST kick to both sockets closed and told: {elapsed * 1000:.0f} ms")
    assert elapsed < 1.0, f"the kick took {elapsed:.2f} s"
    await alice.close()
    await eventually(
        lambda: (
            dict(stack.sql("SELECT peer_id, leave_reason FROM rooms_peersession WHERE room_id = %s", room))
            == {a: "disconnect", b: "kicked"}
        )
    )


async def test_a_forged_forwarded_for_is_not_the_clients_address(stack: Stack) -> None:
    """Through the shipped nginx config, the address recorded (and limited) is the one nginx saw, whatever the
    client claims in X-Forwarded-For."""
    room_id = f"forged-{time.time_ns()}"
    async with connect(stack.url(room_id), additional_headers={"X-Forwarded-For": "203.0.113.50"}) as socket:
        peer_id = (await join(socket, room_id))["peerId"]

    def recorded() -> list[tuple[Any, ...]]:
        return stack.sql(
            "SELECT client_address FROM rooms_peersession WHERE peer_id = %s AND left_at IS NOT NULL", peer_id
        )

    await eventually(lambda: bool(recorded()))
    assert [str(address) for (address,) in recorded()] == ["127.0.0.1"]


async def test_redis_restart_mid_call(stack: Stack) -> None:
    (alice, _), (bob, _) = await sockets_on_workers(stack, 2, 2)
    room = f"restart-{time.time_ns()}"
    stack.sql(
        "INSERT INTO rooms_room (id, name, max_peers, is_open, created_at, updated_at) "
        "VALUES (%s, '', 3, true, now(), now())",
        room,
    )
    a = (await join(alice, room))["peerId"]
    b = (await join(bob, room))["peerId"]
    await receive(alice)
    stack.redis.restart()
    started = time.monotonic()
    while True:
        await send(bob, t="ice", to=a, candidate={"candidate": "after-restart"})
        try:
            message = await receive(alice, timeout=0.25)
            break
        except TimeoutError:
            assert time.monotonic() - started < 5, "relay did not resume within 5 s of the restart"
    assert message == {"t": "ice", "from": b, "candidate": {"candidate": "after-restart"}}
    await send(alice, t="ice", to=b, candidate={"candidate": "back"})
    while (await receive(bob))["candidate"] != {"candidate": "back"}:
        pass
    # The workers registered their peers again, and new joins work.
    await eventually(lambda: stack.store().hlen(f"{PREFIX}:room:{room}") == 2)
    carol = await connect(stack.url())
    assert sorted((await join(carol, room))["peers"]) == sorted([a, b])
    for socket in (alice, bob, carol):
        await socket.close()


async def test_killed_workers_peer_resumes_on_another_worker_unseen(stack: Stack) -> None:
    """SIGKILL: the socket drops, the client comes back through nginx to a live worker with its resume token, long
    before the dead worker is reaped; its place moves there under the same id and the room sees nothing."""
    (alice, worker_a), (bob, _worker_b) = await sockets_on_workers(stack, 2, 2)
    room = f"moved-{time.time_ns()}"
    joined = await join(alice, room)
    a = joined["peerId"]
    b = (await join(bob, room))["peerId"]
    assert await receive(alice) == {"t": "peer-joined", "peerId": b}
    os.kill(stack.pid_of(worker_a), signal.SIGKILL)
    killed = time.monotonic()
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(alice.recv(), 5)
    # (What bob sent her meanwhile went to the dead worker's channel and is lost with it: see docs/deployment.md.)
    again = await connect(stack.url(room))
    await send(again, t="join", roomId=room, resume=joined["resume"])
    resumed = await receive(again)
    assert resumed["t"] == "joined"
    assert resumed["peerId"] == a
    assert resumed["peers"] == [b]
    back = time.monotonic() - killed
    print(f"resumed on another worker {back:.2f} s after SIGKILL")
    assert back < 3
    assert stack.worker_of(room, a) not in (worker_a, "@parked")
    # The exchange goes on both ways under the old ids; the room saw neither peer-left nor peer-joined.
    await send(again, t="sdp", to=b, description={"type": "offer", "sdp": "v=0\r\n"})
    assert await receive(bob) == {"t": "sdp", "from": a, "description": {"type": "offer", "sdp": "v=0\r\n"}}
    await send(bob, t="ice", to=a, candidate={"candidate": "after"})
    assert await receive(again) == {"t": "ice", "from": b, "candidate": {"candidate": "after"}}
    # Reaping the dead worker later announces nothing about the peer that moved.
    await eventually(lambda: worker_a not in stack.store().smembers(f"{PREFIX}:workers"), timeout=15)
    with pytest.raises(TimeoutError):
        await receive(bob, timeout=RESUME_GRACE + 2)
    assert sorted(stack.store().hkeys(f"{PREFIX}:room:{room}")) == sorted([a, b])
    await again.close()
    await bob.close()


async def test_killed_worker_peers_leave_with_timeout(stack: Stack) -> None:
    (alice, worker_a), (bob, _worker_b) = await sockets_on_workers(stack, 2, 2)
    room = f"crash-{time.time_ns()}"
    a = (await join(alice, room))["peerId"]
    b = (await join(bob, room))["peerId"]
    await receive(alice)
    # A call under way: both sessions are on record (what a worker had not yet written when killed is lost).
    await eventually(lambda: stack.sql("SELECT count(*) FROM rooms_peersession WHERE room_id = %s", room) == [(2,)])
    os.kill(stack.pid_of(worker_a), signal.SIGKILL)
    killed = time.monotonic()
    # Reaped within WORKER_TIMEOUT (and a quarter of it), then parked for the resume grace: nobody comes back.
    assert await receive(bob, timeout=20) == {"t": "peer-left", "peerId": a, "reason": "timeout"}
    detected = time.monotonic() - killed
    print(f"peer-left after SIGKILL in {detected:.1f} s")
    assert RESUME_GRACE < detected < 5 * 1.25 + RESUME_GRACE + 2
    # No ghost: not in Redis, and the log and admin data say it left.
    store = stack.store()
    assert store.hkeys(f"{PREFIX}:room:{room}") == [b]
    assert worker_a not in store.smembers(f"{PREFIX}:workers")
    assert not store.exists(f"{PREFIX}:peers:{worker_a}")
    await eventually(
        lambda: (
            stack.sql("SELECT leave_reason FROM rooms_peersession WHERE peer_id = %s AND left_at IS NOT NULL", a)
            == [("timeout",)]
        )
    )
    assert stack.sql(
        "SELECT count(*) FROM rooms_roomevent WHERE peer_id = %s AND kind = 'peer_left' "
        "AND detail->>'reason' = 'timeout'",
        a,
    ) == [(1,)]
    open_sessions = stack.sql("SELECT peer_id FROM rooms_peersession WHERE room_id = %s AND left_at IS NULL", room)
    assert open_sessions == [(b,)]
    await bob.close()
