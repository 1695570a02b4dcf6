"""A rolling restart under a call: three daphne workers behind nginx share rooms through Redis; each worker in turn
gets SIGTERM (what systemd, Kubernetes and a deploy send), drains, exits and is started again. The peers on it are
parked in Redis and told to come back (1012); they resume through nginx on a live worker under their own ids, with
what was sent to them meanwhile, and their partners see nothing."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Iterator

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from rtcsite.servers import DaphneProcess, wait_for_port
from tests.test_e2e_workers import PREFIX, Stack, join, running_stack, sockets_on_workers
from tests.wsclient import eventually, receive, send

DRAIN_SECONDS = 3.0


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with running_stack({"RESUME_GRACE": 10, "DRAIN_SECONDS": DRAIN_SECONDS}) as running:
        yield running


async def restart_with_sigterm(stack: Stack, process: DaphneProcess, clients: list[ClientConnection]) -> float:
    """SIGTERM a worker; every client on it must be closed with 1012 (service restart) within the drain time and
    the process must exit, with no application left for daphne to cancel. Then start it again on its port.
    Returns the seconds until the process exited."""
    assert process.process is not None
    os.kill(process.pid, signal.SIGTERM)
    started = time.monotonic()

    async def read_until_closed(client: ClientConnection) -> None:
        while True:
            await asyncio.wait_for(client.recv(), DRAIN_SECONDS + 2)

    for client in clients:
        with pytest.raises(ConnectionClosed) as closed:
            await read_until_closed(client)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1012
        assert time.monotonic() - started < DRAIN_SECONDS
    await asyncio.to_thread(process.process.wait, DRAIN_SECONDS + 10)
    exited = time.monotonic() - started
    assert "Killed 0 pending application instances" in process.output() or "Killed" not in process.output()
    await asyncio.to_thread(process.start)
    await asyncio.to_thread(wait_for_port, process.port)
    return exited


async def test_a_rolling_restart_is_invisible_to_the_call(stack: Stack) -> None:
    (alice, _), (bob, _) = await sockets_on_workers(stack, 2, 2)
    room = f"rolling-{time.time_ns()}"
    joined_a = await join(alice, room)
    joined_b = await join(bob, room)
    a, b = str(joined_a["peerId"]), str(joined_b["peerId"])
    assert await receive(alice) == {"t": "peer-joined", "peerId": b}
    tokens = {a: str(joined_a["resume"]), b: str(joined_b["resume"])}
    sockets = {a: alice, b: bob}
    partner = {a: b, b: a}
    resumed = 0

    for process in list(stack.workers):
        # (A worker registers in Redis with its first peer: a fresh one may not be there yet.)
        channels = [w for w in stack.store().smembers(f"{PREFIX}:workers") if stack.pid_of(w) == process.pid]
        movers = [peer for peer in (a, b) if stack.worker_of(room, peer) in channels]
        exited = await restart_with_sigterm(stack, process, [sockets[peer] for peer in movers])
        print(f"worker {process.port}: {len(movers)} peer(s) told to come back; exited after {exited:.2f} s")
        assert exited < DRAIN_SECONDS + 3
        # Sent by a partner on another worker while the mover is away: kept for it in Redis.
        kept = {peer: f"while {peer} was away" for peer in movers if partner[peer] not in movers}
        for peer, text in kept.items():
            await send(sockets[partner[peer]], t="ice", to=peer, candidate={"candidate": text})
        for peer in movers:
            back_started = time.monotonic()
            socket = await connect(stack.url(room))
            await send(socket, t="join", roomId=room, resume=tokens[peer])
            answer = await receive(socket)
            assert answer["t"] == "joined"
            assert answer["peerId"] == peer
            assert answer["peers"] == [partner[peer]]
            print(f"  {peer}: back in the room {time.monotonic() - back_started:.3f} s after reconnecting")
            if peer in kept:
                assert await receive(socket) == {
                    "t": "ice",
                    "from": partner[peer],
                    "candidate": {"candidate": kept[peer]},
                }
            tokens[peer], sockets[peer] = str(answer["resume"]), socket
            resumed += 1
        # The exchange goes on both ways; nobody saw peer-left or peer-joined (receive() would have got them).
        for sender in (a, b):
            await send(sockets[sender], t="sdp", to=partner[sender], description={"type": "offer", "sdp": "v=0\r\n"})
            assert await receive(sockets[partner[sender]]) == {
                "t": "sdp",
                "from": sender,
                "description": {"type": "offer", "sdp": "v=0\r\n"},
            }
    assert resumed >= 2
    # The log saw nobody leave; Redis holds exactly the two of them, and every worker is registered again.
    assert stack.sql("SELECT peer_id FROM rooms_peersession WHERE room_id = %s AND left_at IS NOT NULL", room) == []
    assert sorted(stack.store().hkeys(f"{PREFIX}:room:{room}")) == sorted([a, b])
    for socket in sockets.values():
        await socket.close()
    await eventually(lambda: not stack.store().exists(f"{PREFIX}:room:{room}"))
    await eventually(lambda: not stack.store().zcard(f"{PREFIX}:parked"))


async def test_readyz_and_the_metrics_of_a_worker(stack: Stack) -> None:
    import urllib.request

    def fetch(url: str) -> tuple[int, bytes]:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()

    worker = stack.workers[0]
    status, body = await asyncio.to_thread(fetch, worker.http_url + "/readyz")
    assert status == 200
    assert json.loads(body) == {"ready": True, "problems": []}
    _, body = await asyncio.to_thread(fetch, worker.http_url + "/metrics")
    assert b"signaling_joins_total" in body
