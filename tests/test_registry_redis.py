"""The Redis registry, with several workers in one process: each ``RedisRegistry`` instance is a worker of its own.

Redis is a real ``redis-server`` started for these tests on a free port.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis as redis_client
from asgiref.sync import sync_to_async

from rtcsite.servers import RedisProcess, SentinelCluster
from signaling import signals
from signaling.registry import Ended, RegistryUnavailable, RoomFull
from signaling.registry.redis import Member, RedisRegistry, RoomView, announce_to, wire

WORKER_TIMEOUT = 1.0

# Reaping a dead worker's peers sends lifecycle events, which the rooms app records.
pytestmark = pytest.mark.django_db(transaction=True)


class Inbox:
    """A peer as the registry sees it, keeping what it is sent."""

    mount = 0
    client = ""

    def __init__(self, peer_id: str | None = None) -> None:
        self.peer_id = peer_id or uuid.uuid4().hex[:12]
        self.frames: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.ended: list[int] = []
        self.evicted: list[str] = []
        self.replaced_count = 0

    async def deliver(self, frame: str) -> None:
        self.frames.put_nowait(json.loads(frame))

    async def end(self, code: int) -> None:
        self.ended.append(code)

    async def evict(self, reason: str) -> None:
        self.evicted.append(reason)

    async def replaced(self) -> None:
        self.replaced_count += 1

    async def next(self, timeout: float = 3) -> dict[str, Any]:
        return await asyncio.wait_for(self.frames.get(), timeout)

    async def silent(self, wait: float = 0.2) -> bool:
        await asyncio.sleep(wait)
        return self.frames.empty()


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def workers(redis_server: RedisProcess, prefix: str, settings: Any) -> AsyncIterator[Callable[[], RedisRegistry]]:
    """Make workers sharing the test's Redis under a prefix of the test's own."""
    settings.SIGNALING = {
        **settings.SIGNALING,
        "REDIS_URL": redis_server.url,
        "REDIS_PREFIX": prefix,
        "WORKER_TIMEOUT": WORKER_TIMEOUT,
    }
    made: list[RedisRegistry] = []

    def make() -> RedisRegistry:
        registry = RedisRegistry()
        made.append(registry)
        return registry

    yield make
    for registry in made:
        await registry.worker().stop()


def redis_of(server: RedisProcess) -> redis_client.Redis:
    return redis_client.Redis.from_url(server.url, decode_responses=True)


async def test_peers_on_two_workers_see_each_other_and_exchange_messages(workers: Any) -> None:
    one, two = workers(), workers()
    alice, bob = Inbox(), Inbox()
    first = await one.join("r", alice, 4)
    assert first.peers == []
    assert first.room_created
    second = await two.join("r", bob, 4)
    assert second.peers == [alice.peer_id]
    assert not second.room_created
    assert await alice.next() == {"t": "peer-joined", "peerId": bob.peer_id}

    assert await two.relay("r", bob.peer_id, alice.peer_id, '{"t": "sdp", "n": 1}') == 1
    assert await alice.next() == {"t": "sdp", "n": 1}
    assert await one.relay("r", alice.peer_id, None, '{"t": "ice", "n": 2}') == 1
    assert await bob.next() == {"t": "ice", "n": 2}
    assert await alice.silent()
    assert await bob.silent()


async def test_broadcast_reaches_every_worker_once(workers: Any) -> None:
    registries = [workers() for _ in range(3)]
    peers = [Inbox() for _ in range(4)]
    # Two peers on the first worker, one on each other.
    for registry, peer in zip([registries[0], registries[0], registries[1], registries[2]], peers, strict=True):
        await registry.join("room", peer, 4)
    # Each peer hears of every later one; once it has, its worker's view holds them.
    for index, peer in enumerate(peers):
        arrivals = {(await peer.next())["peerId"] for _ in peers[index + 1 :]}
        assert arrivals == {later.peer_id for later in peers[index + 1 :]}
    assert await registries[1].relay("room", peers[2].peer_id, None, '{"t": "ice"}') == 3
    for index in (0, 1, 3):
        assert await peers[index].next() == {"t": "ice"}
    assert await peers[2].silent()
    assert all([await peer.silent() for peer in peers])


async def test_order_holds_across_workers(workers: Any) -> None:
    one, two = workers(), workers()
    alice, bob = Inbox(), Inbox()
    await one.join("r", alice, 2)
    await two.join("r", bob, 2)
    await alice.next()
    for index in range(300):
        await two.relay("r", bob.peer_id, alice.peer_id, json.dumps({"n": index}))
    assert [(await alice.next())["n"] for _ in range(300)] == list(range(300))


async def test_messages_never_cross_rooms_or_reach_strangers(workers: Any) -> None:
    one, two = workers(), workers()
    alice, bob, eve = Inbox(), Inbox(), Inbox()
    await one.join("r1", alice, 4)
    await two.join("r1", bob, 4)
    await alice.next()
    await two.join("r2", eve, 4)
    assert await two.relay("r2", eve.peer_id, alice.peer_id, "{}") == 0
    assert await two.relay("r2", eve.peer_id, None, "{}") == 0
    assert await two.relay("r1", bob.peer_id, "nobody", "{}") == 0
    assert await two.relay("r1", bob.peer_id, bob.peer_id, "{}") == 0
    assert await alice.silent()
    assert await bob.silent()
    assert await eve.silent()


async def test_leave_is_announced_and_empties_redis(workers: Any, redis_server: RedisProcess, prefix: str) -> None:
    one, two = workers(), workers()
    alice, bob = Inbox(), Inbox()
    await one.join("r", alice, 4)
    await two.join("r", bob, 4)
    await alice.next()
    assert await sync_to_async(one.occupancy)(["r", "other"]) == {"r": 2, "other": 0}
    assert await sync_to_async(two.live_rooms)() == {"r": 2}
    assert await two.leave("r", bob.peer_id, "leave") is False
    assert await alice.next() == {"t": "peer-left", "peerId": bob.peer_id, "reason": "leave"}
    assert await two.leave("r", bob.peer_id, "leave") is None  # not a member any more
    assert await one.leave("r", alice.peer_id, "disconnect") is True
    assert await sync_to_async(one.live_rooms)() == {}
    store = redis_of(redis_server)
    assert not store.exists(f"{prefix}:room:r")
    assert store.hlen(f"{prefix}:peers:{one.worker().channel}") == 0


async def test_capacity_holds_across_three_workers(workers: Any) -> None:
    registries = [workers() for _ in range(3)]
    for registry in registries:
        await registry.worker().start()
    peers = [Inbox() for _ in range(40)]

    refusals: list[int] = []

    async def attempt(index: int) -> bool:
        try:
            await registries[index % 3].join("crowded", peers[index], 4)
        except RoomFull as full:
            refusals.append(full.max_peers)
            return False
        return True

    admitted = await asyncio.gather(*(attempt(index) for index in range(40)))
    assert sum(admitted) == 4
    assert refusals == [4] * 36
    assert await sync_to_async(registries[0].occupancy)(["crowded"]) == {"crowded": 4}


async def test_dead_worker_peers_leave_with_timeout(
    workers: Any, redis_server: RedisProcess, prefix: str, settings: Any
) -> None:
    """Nobody resumes them: they leave with reason timeout once the resume grace after the reaping is over."""
    grace = 1.0
    settings.SIGNALING = {**settings.SIGNALING, "RESUME_GRACE": grace}
    one, two = workers(), workers()
    alice, bob, carol = Inbox(), Inbox(), Inbox()
    left: list[dict[str, Any]] = []

    async def on_left(sender: type, **kwargs: Any) -> None:
        left.append(kwargs)

    signals.peer_left.connect(on_left)
    try:
        await one.join("r", alice, 4)
        await two.join("r", bob, 4)
        await two.join("solo", carol, 4)
        await alice.next()
        dead = two.worker()
        # A worker that stops answering: its tasks stop and its heartbeat expires; its peers' sockets are gone.
        for task in dead._tasks:
            task.cancel()
        started = time.monotonic()
        assert await alice.next(timeout=10) == {"t": "peer-left", "peerId": bob.peer_id, "reason": "timeout"}
        assert grace < time.monotonic() - started < 3 * WORKER_TIMEOUT + grace + 1
        for _ in range(50):
            if len(left) == 2:
                break
            await asyncio.sleep(0.05)
    finally:
        signals.peer_left.disconnect(on_left)
    assert sorted((e["peer_id"], e["reason"]) for e in left) == sorted(
        [(bob.peer_id, "timeout"), (carol.peer_id, "timeout")]
    )
    store = redis_of(redis_server)
    assert store.hkeys(f"{prefix}:room:r") == [alice.peer_id]
    assert not store.exists(f"{prefix}:room:solo")
    assert dead.channel not in store.smembers(f"{prefix}:workers")
    assert not store.exists(f"{prefix}:peers:{dead.channel}")
    assert await sync_to_async(one.live_rooms)() == {"r": 1}


async def test_worker_taken_for_dead_closes_its_sockets(workers: Any, settings: Any) -> None:
    settings.SIGNALING = {**settings.SIGNALING, "RESUME_GRACE": 0.5}
    one, two = workers(), workers()
    alice, bob = Inbox(), Inbox()
    await one.join("r", alice, 4)
    await two.join("r", bob, 4)
    stalled = one.worker()
    for task in stalled._tasks:
        task.cancel()
    assert await bob.next(timeout=10) == {"t": "peer-left", "peerId": alice.peer_id, "reason": "timeout"}
    # The stalled worker comes back: it learns it was evicted and closes what it still holds.
    await stalled.heartbeat()
    assert alice.ended == [1012]
    assert stalled.local == {}


async def test_redis_restart_relays_resume_and_registry_is_rebuilt(
    workers: Any, redis_server: RedisProcess, prefix: str
) -> None:
    one, two = workers(), workers()
    alice, bob = Inbox(), Inbox()
    await one.join("r", alice, 4)
    await two.join("r", bob, 4)
    await alice.next()
    await sync_to_async(redis_server.restart)()
    started = time.monotonic()
    # Relays from bob to alice come through again once the pub/sub connections are back.
    while True:
        await two.relay("r", bob.peer_id, alice.peer_id, json.dumps({"at": time.monotonic()}))
        try:
            await alice.next(timeout=0.25)
            break
        except TimeoutError:
            assert time.monotonic() - started < 5, "relay did not resume within 5 s"
    store = redis_of(redis_server)
    for _ in range(100):
        if store.hlen(f"{prefix}:room:r") == 2:
            break
        await asyncio.sleep(0.05)
    assert sorted(store.hkeys(f"{prefix}:room:r")) == sorted([alice.peer_id, bob.peer_id])
    carol = Inbox()
    result = await one.join("r", carol, 4)
    assert sorted(result.peers) == sorted([alice.peer_id, bob.peer_id])
    assert await bob.next() == {"t": "peer-joined", "peerId": carol.peer_id}


async def test_redis_down_fails_joins_fast_and_keeps_local_relays(workers: Any, redis_server: RedisProcess) -> None:
    one = workers()
    alice, bob = Inbox(), Inbox()
    await one.join("r", alice, 4)
    await one.join("r", bob, 4)
    await alice.next()
    redis_server.stop()
    try:
        started = time.monotonic()
        with pytest.raises(RegistryUnavailable):
            await one.join("r", Inbox(), 4)
        assert time.monotonic() - started < 5
        assert await one.relay("r", alice.peer_id, bob.peer_id, '{"t": "ice"}') == 1
        assert await bob.next() == {"t": "ice"}
        # A leave while Redis is away is told to this worker's peers at once.
        assert await one.leave("r", bob.peer_id, "disconnect") is False
        assert await alice.next() == {"t": "peer-left", "peerId": bob.peer_id, "reason": "disconnect"}
    finally:
        redis_server.start()


def test_view_takes_the_newest_change_whatever_the_order() -> None:
    view = RoomView()
    view.apply("p", 5, None)  # departure seen first
    view.apply("p", 3, "w1")  # older arrival arrives late
    assert view.worker_of("p") is None
    view.apply("q", 7, "w2")
    view.load({"r": ("w3", 9, 0)}, as_of=10)  # a snapshot without q: q left before it
    assert view.members() == {"r": "w3"}
    view.apply("q", 8, "w2")  # a stale arrival changes nothing
    assert view.members() == {"r": "w3"}


async def test_announcements_wait_for_the_members_own_join() -> None:
    peer = Inbox()
    member = Member(peer, "r")
    await announce_to(member, 5, '{"t": "peer-joined", "peerId": "early"}')
    await announce_to(member, 9, '{"t": "peer-joined", "peerId": "late"}')
    assert member.stash
    assert peer.frames.empty()
    member.version = 7
    await announce_to(member, 6, '{"t": "peer-left", "peerId": "before"}')
    await announce_to(member, 8, '{"t": "peer-left", "peerId": "after"}')
    assert await peer.next() == {"t": "peer-left", "peerId": "after"}
    assert peer.frames.empty()


async def test_moderation_reaches_members_on_every_worker(workers: Callable[[], RedisRegistry]) -> None:
    one, two, moderator = workers(), workers(), workers()
    alice, bob, carol = Inbox(), Inbox(), Inbox()
    await one.join("moderated", alice, 4)
    await two.join("moderated", bob, 4)
    await two.join("moderated", carol, 4)
    assert sorted(moderator.members("moderated")) == sorted([alice.peer_id, bob.peer_id, carol.peer_id])

    # A worker with no member of the room kicks a peer held by another.
    assert await moderator.evict("moderated", bob.peer_id, "kicked") == 1
    for _ in range(50):
        if bob.evicted:
            break
        await asyncio.sleep(0.02)
    assert bob.evicted == ["kicked"]
    assert alice.evicted == []
    assert carol.evicted == []
    assert await moderator.evict("moderated", "nobody", "kicked") == 0

    assert await moderator.evict("moderated", None, "room-closed") == 3
    for _ in range(50):
        if alice.evicted and len(carol.evicted) == 1:
            break
        await asyncio.sleep(0.02)
    assert alice.evicted == ["room-closed"]
    assert carol.evicted == ["room-closed"]


async def test_one_unserializable_message_never_costs_a_batch(workers: Callable[[], RedisRegistry]) -> None:
    """The door refuses strings that cannot be encoded, but if one ever reached the cross-worker flush, only it is
    lost: every other message of its batch, in other rooms too, arrives, in order."""
    one, two = workers(), workers()
    alice, bob, carol, dave = Inbox(), Inbox(), Inbox(), Inbox()
    await one.join("quiet", alice, 4)
    await two.join("quiet", bob, 4)
    await one.join("other", carol, 4)
    await two.join("other", dave, 4)
    assert (await alice.next())["t"] == "peer-joined"
    assert (await carol.next())["t"] == "peer-joined"
    for n in range(30):
        await two.relay("other", dave.peer_id, carol.peer_id, json.dumps({"t": "ice", "n": n}))
        if n == 10:
            await two.relay("quiet", bob.peer_id, alice.peer_id, '{"t": "sdp", "sdp": "\ud800"}')
    assert [(await carol.next())["n"] for _ in range(30)] == list(range(30))
    assert await alice.silent()
    # The room the bad message was for goes on too.
    await two.relay("quiet", bob.peer_id, alice.peer_id, '{"t": "sdp", "n": 1}')
    assert await alice.next() == {"t": "sdp", "n": 1}


async def test_the_outbox_to_a_worker_is_bounded_in_bytes(workers: Callable[[], RedisRegistry], settings: Any) -> None:
    settings.SIGNALING = {**settings.SIGNALING, "CROSS_WORKER_BUFFER_BYTES": 10_000}
    one, two = workers(), workers()
    alice, bob = Inbox(), Inbox()
    await one.join("r", alice, 4)
    await two.join("r", bob, 4)
    await alice.next()
    worker = two.worker()
    frame = json.dumps({"t": "sdp", "sdp": "a" * 3000})
    for _ in range(10):  # posted without yielding: nothing is flushed meanwhile
        worker.courier.post(one.worker().channel, wire.to_peer("r", alice.peer_id, frame))
    outbox = worker.courier.outboxes[one.worker().channel]
    assert outbox.size <= 10_000
    assert len(outbox.items) == 3
    assert [len((await alice.next())["sdp"]) for _ in range(3)] == [3000] * 3
    assert await alice.silent()


# -- parking and resuming across workers ---------------------------------------------------------------------------


async def bob_parked(
    workers: Callable[[], RedisRegistry], max_peers: int
) -> tuple[RedisRegistry, RedisRegistry, Inbox, Inbox]:
    """Alice on one worker and bob on another in room "r"; bob's socket dropped and he is parked for 30 s."""
    one, two = workers(), workers()
    alice, bob = Inbox(), Inbox()
    await one.join("r", alice, max_peers)
    await two.join("r", bob, max_peers)
    assert (await alice.next())["t"] == "peer-joined"
    assert await two.park("r", bob.peer_id, bob, 30)
    return one, two, alice, bob


async def test_a_parked_peer_resumes_on_another_worker_with_what_it_missed(
    workers: Callable[[], RedisRegistry], redis_server: RedisProcess, prefix: str
) -> None:
    one, two, alice, bob = await bob_parked(workers, 2)
    three = workers()
    assert redis_of(redis_server).hget(f"{prefix}:room:r", bob.peer_id).startswith("@parked|")
    # The room stays full: the seat is kept.
    with pytest.raises(RoomFull):
        await three.join("r", Inbox(), 2)
    for n in range(3):
        await one.relay("r", alice.peer_id, bob.peer_id, json.dumps({"t": "ice", "n": n}))
    await one.relay("r", alice.peer_id, None, json.dumps({"t": "ice", "n": 3}))
    back = Inbox(bob.peer_id)
    resumed = await three.resume("r", bob.peer_id, back)
    assert resumed is not None
    assert resumed.peers == [alice.peer_id]
    assert resumed.from_other_worker
    assert [(await back.next())["n"] for _ in range(4)] == [0, 1, 2, 3]
    # Nothing announced; the call goes on both ways through the new worker.
    assert await alice.silent()
    await one.relay("r", alice.peer_id, bob.peer_id, '{"t": "sdp", "n": 4}')
    assert (await back.next())["n"] == 4
    await three.relay("r", bob.peer_id, alice.peer_id, '{"t": "sdp", "n": 5}')
    assert (await alice.next())["n"] == 5
    store = redis_of(redis_server)
    assert store.hget(f"{prefix}:room:r", bob.peer_id).startswith(three.worker().channel + "|")
    assert not store.exists(f"{prefix}:kept:r:{bob.peer_id}")
    assert not store.zcard(f"{prefix}:parked")
    # Once resumed, the parked place cannot be resumed "again" from its old token's state: the place is live.
    await three.leave("r", bob.peer_id, "leave")
    assert await alice.next() == {"t": "peer-left", "peerId": bob.peer_id, "reason": "leave"}
    assert await two.resume("r", bob.peer_id, Inbox(bob.peer_id)) is None


async def test_racing_resumes_leave_exactly_one_holder(
    workers: Callable[[], RedisRegistry], redis_server: RedisProcess, prefix: str
) -> None:
    one, _two, alice, bob = await bob_parked(workers, 2)
    three = workers()
    await one.relay("r", alice.peer_id, bob.peer_id, '{"t": "ice", "n": 1}')
    store = redis_of(redis_server)
    for _ in range(50):  # kept in Redis (through worker two, if worker one had not heard of the parking yet)
        if store.llen(f"{prefix}:kept:r:{bob.peer_id}") == 1:
            break
        await asyncio.sleep(0.02)
    first, second = Inbox(bob.peer_id), Inbox(bob.peer_id)
    results = await asyncio.gather(three.resume("r", bob.peer_id, first), one.resume("r", bob.peer_id, second))
    assert all(result is not None for result in results)
    # The later of the two took over from the earlier: that one is told it was replaced, and the kept frame was
    # delivered once, to the first.
    for _ in range(50):
        if first.replaced_count + second.replaced_count == 1:
            break
        await asyncio.sleep(0.05)
    assert first.replaced_count + second.replaced_count == 1
    holder = second if first.replaced_count else first
    kept = [inbox for inbox in (first, second) if not inbox.frames.empty()]
    assert len(kept) == 1
    assert (await kept[0].next())["n"] == 1
    assert await alice.silent()
    await one.relay("r", alice.peer_id, bob.peer_id, '{"t": "ice", "n": 2}')
    assert (await holder.next())["n"] == 2


async def test_a_live_peer_taken_over_from_another_worker_is_closed_unannounced(
    workers: Callable[[], RedisRegistry],
) -> None:
    """A client that moved networks comes back while its old socket still looks open: the newest wins."""
    one, two = workers(), workers()
    alice, bob = Inbox(), Inbox()
    await one.join("r", alice, 2)
    await one.join("r", bob, 2)
    await alice.next()
    moved = Inbox(bob.peer_id)
    resumed = await two.resume("r", bob.peer_id, moved)
    assert resumed is not None
    assert resumed.from_other_worker
    for _ in range(50):
        if bob.replaced_count:
            break
        await asyncio.sleep(0.05)
    assert bob.replaced_count == 1
    assert bob.peer_id not in one.worker().local
    assert await alice.silent()
    await one.relay("r", alice.peer_id, bob.peer_id, '{"t": "ice", "n": 7}')
    assert (await moved.next())["n"] == 7
    assert bob.frames.empty()
    # The old socket's own leave (its disconnect) is not the owner's any more: nothing happens.
    assert await one.leave("r", bob.peer_id, "disconnect") is None
    assert await alice.silent()


async def test_a_parked_peer_leaves_after_its_grace_or_when_it_overflows(
    workers: Callable[[], RedisRegistry], settings: Any
) -> None:
    settings.SIGNALING = {**settings.SIGNALING, "PARKED_BUFFER_FRAMES": 3}
    one, two = workers(), workers()
    alice, bob, carol = Inbox(), Inbox(), Inbox()
    await one.join("r", alice, 4)
    await two.join("r", bob, 4)
    await alice.next()
    started = time.monotonic()
    assert await two.park("r", bob.peer_id, bob, 0.5)
    assert await alice.next(timeout=5) == {"t": "peer-left", "peerId": bob.peer_id, "reason": "disconnect"}
    assert 0.4 < time.monotonic() - started < 3
    await two.join("r", carol, 4)
    await alice.next()
    assert await two.park("r", carol.peer_id, carol, 30)
    for n in range(4):
        await one.relay("r", alice.peer_id, carol.peer_id, json.dumps({"t": "ice", "n": n}))
    assert await alice.next(timeout=3) == {"t": "peer-left", "peerId": carol.peer_id, "reason": "disconnect"}
    assert await one.resume("r", carol.peer_id, Inbox(carol.peer_id)) is None


async def test_a_parked_peer_can_be_kicked(workers: Callable[[], RedisRegistry]) -> None:
    one, two, alice, bob = await bob_parked(workers, 4)
    assert await one.evict("r", bob.peer_id, "kicked") == 1
    assert await alice.next() == {"t": "peer-left", "peerId": bob.peer_id, "reason": "kicked"}
    # Its resume, on any worker, is told why its stay ended; it takes no place.
    assert await two.resume("r", bob.peer_id, Inbox(bob.peer_id)) == Ended("kicked")
    assert await one.resume("r", bob.peer_id, Inbox(bob.peer_id)) == Ended("kicked")
    assert await sync_to_async(one.members)("r") == [alice.peer_id]


async def test_a_sentinel_failover_keeps_the_call(settings: Any) -> None:
    """REDIS_URL naming Redis Sentinel: the master dies, the sentinels promote the replica, the workers follow it.
    Relays between workers come back; the members are still there (replicated) and new joins work."""
    with SentinelCluster() as cluster:
        settings.SIGNALING = {
            **settings.SIGNALING,
            "REDIS_URL": cluster.url,
            "REDIS_PREFIX": "failover",
            "WORKER_TIMEOUT": 3.0,
        }
        one, two = RedisRegistry(), RedisRegistry()
        try:
            alice, bob = Inbox(), Inbox()
            await one.join("r", alice, 4)
            await two.join("r", bob, 4)
            assert (await alice.next())["t"] == "peer-joined"
            await two.relay("r", bob.peer_id, alice.peer_id, '{"t": "ice", "n": 0}')
            assert (await alice.next())["n"] == 0
            # The replica has the writes before the master dies (WAIT: acknowledged by one replica).
            master = redis_client.Redis(port=cluster.master.port)
            assert await asyncio.to_thread(master.wait, 1, 5000) == 1
            master.close()
            old_master = cluster.master.port
            cluster.kill_master()
            started = time.monotonic()
            while cluster.master_port() == old_master:
                assert time.monotonic() - started < 20, "the sentinels never promoted the replica"
                await asyncio.sleep(0.2)
            # Relays across workers come back (each retried until delivered).
            # The workers must first find the new master and subscribe again: keep relaying until one arrives.
            got: list[int] = []
            n, deadline = 0, time.monotonic() + 30
            while not got and time.monotonic() < deadline:
                n += 1
                await two.relay("r", bob.peer_id, alice.peer_id, json.dumps({"t": "ice", "n": n}))
                await asyncio.sleep(0.1)
                while not alice.frames.empty():
                    got.append((await alice.next())["n"])
            assert got, "no relay across workers after the failover"
            assert sorted(await sync_to_async(one.members)("r")) == sorted([alice.peer_id, bob.peer_id])
            carol = Inbox()
            joined = await one.join("r", carol, 4)
            assert sorted(joined.peers) == sorted([alice.peer_id, bob.peer_id])
        finally:
            await one.worker().stop()
            await two.worker().stop()


async def test_what_a_draining_workers_parked_peer_still_sends_is_kept_for_the_other(
    workers: Callable[[], RedisRegistry],
) -> None:
    """Both members of a room on one worker, both parked by its drain: what one of them still sends before its
    socket is closed (the consumer relays it as the parked peer) is kept for the other, reaches it when it
    resumes on another worker, and follows it there afterwards."""
    one, two = workers(), workers()
    alice, bob = Inbox(), Inbox()
    await one.join("r", alice, 2)
    await one.join("r", bob, 2)
    assert (await alice.next())["t"] == "peer-joined"
    assert await one.park("r", bob.peer_id, bob, 30, still_speaking=True)
    assert await one.park("r", alice.peer_id, alice, 30, still_speaking=True)
    assert await one.relay("r", alice.peer_id, bob.peer_id, '{"t": "sdp", "n": 1}') == 1
    assert await one.relay("r", alice.peer_id, None, '{"t": "ice", "n": 2}') == 1
    back = Inbox(bob.peer_id)
    assert await two.resume("r", bob.peer_id, back) is not None
    assert [(await back.next())["n"] for _ in range(2)] == [1, 2]
    assert await one.relay("r", alice.peer_id, bob.peer_id, '{"t": "sdp", "n": 3}') == 1
    assert (await back.next())["n"] == 3


async def test_a_frame_for_the_room_that_reaches_a_worker_after_it_parked_the_peer_is_kept(
    workers: Callable[[], RedisRegistry],
) -> None:
    """Alice's worker took bob to be on his (its view was not told of the park yet) and sent its frame for the
    room there: his worker, which parked him meanwhile, keeps it for him rather than losing it."""
    _one, two, alice, bob = await bob_parked(workers, 2)
    await two.worker().apply(wire.decode(wire.to_room("r", alice.peer_id, '{"t": "ice", "n": 1}', [bob.peer_id])))
    back = Inbox(bob.peer_id)
    assert await workers().resume("r", bob.peer_id, back) is not None
    assert (await back.next())["n"] == 1


@pytest.mark.parametrize(
    "item",
    [
        wire.to_peer("r", "p1", "{}"),
        wire.to_peer("r", "p1", "{}", forwarded=True),
        wire.to_room("r", "p1", "{}", ["p2", "p3"]),
        wire.to_room("r", "p1", "{}", []),
        wire.membership("r", "p1", "worker.abc", 17, '{"t": "peer-joined"}'),
        wire.membership("r", "p1", None, 18, None),
        wire.evict("r", None, "room-closed"),
        wire.evict("r", "p1", "kicked"),
    ],
)
def test_every_notice_a_worker_sends_is_one_the_courier_decodes(item: Any) -> None:
    """Each kind of notice, as built for the wire, decodes to a notice with the same fields, through the channel
    layer's own serialization (what the pub/sub message carries)."""
    from channels_redis.pubsub import RedisPubSubChannelLayer

    layer = RedisPubSubChannelLayer()
    sent = layer.deserialize(layer.serialize({"type": "signaling.deliver", "items": [item]}))["items"][0]
    notice = wire.decode(sent)
    assert notice.room_id == "r"
    fields = {
        wire.ToPeer: lambda n: {"r": n.room_id, "to": n.peer_id, "f": n.frame, **({"fw": 1} if n.forwarded else {})},
        wire.ToRoom: lambda n: {"r": n.room_id, "x": n.sender_id, "f": n.frame, "p": list(n.recipients or ())},
        wire.Membership: lambda n: {
            "r": n.room_id,
            "x": n.peer_id,
            "op": [n.peer_id, n.worker, n.version],
            **({"f": n.frame} if n.frame is not None else {}),
        },
        wire.Evict: lambda n: {"r": n.room_id, "ev": [n.peer_id, n.reason]},
    }[type(notice)](notice)
    assert fields == item


@pytest.mark.parametrize(
    "item",
    [
        None,
        [],
        {},
        {"r": 1, "to": "p", "f": ""},
        {"r": "r", "to": "p"},
        {"r": "r", "x": "p"},
        {"r": "r", "op": ["p", None]},
        {"r": "r", "x": "p", "op": ["p", 3, 1]},
        {"r": "r", "ev": ["p"]},
        {"r": "r", "x": "p", "f": "", "p": "everyone"},
        {"r": "r", "new": "kind"},
    ],
)
def test_a_notice_the_courier_cannot_read_is_refused_not_guessed(item: Any) -> None:
    with pytest.raises(wire.UndecodableNotice):
        wire.decode(item)


def test_every_notice_kind_has_a_decoder() -> None:
    """The kinds this file's round trip covers are every kind there is: a builder or a notice type added to the
    wire fails here until the round trip above covers it too."""
    import inspect

    builders = {
        name
        for name, value in vars(wire).items()
        if inspect.isfunction(value)
        and value.__module__ == wire.__name__
        and not name.startswith("_")
        and name not in ("decode", "frame_size")
    }
    kinds = {kind.__name__ for kind in wire.Notice.__args__}
    assert builders == {"to_peer", "to_room", "membership", "evict"}
    assert kinds == {"ToPeer", "ToRoom", "Membership", "Evict"}


def test_each_lua_scripts_header_names_every_key_it_uses() -> None:
    """The comment above each script lists its KEYS: as many as the script reads, so a caller can be checked
    against it."""
    import re
    from pathlib import Path

    from signaling.registry.redis import scripts

    source = Path(scripts.__file__).read_text()
    headers = {name: keys for keys, name in re.findall(r"# KEYS: ([^.]*)\.[^\n]*\n(?:#[^\n]*\n)*([A-Z_]+) = ", source)}
    assert set(headers) == {
        "JOIN",
        "LEAVE",
        "REJOIN",
        "HEARTBEAT",
        "CLAIM",
        "PARK",
        "KEEP",
        "RESUME",
        "EXPIRE_PARKED",
        "UPDATE",
    }
    for name, keys in headers.items():
        used = {int(n) for n in re.findall(r"KEYS\[(\d+)\]", getattr(scripts, name))}
        assert used == set(range(1, len(keys.split(",")) + 1)), (name, keys, sorted(used))
