"""A worker's life in the shared registry: start (its channel, subscribed before any peer is admitted), the upkeep
loop (heartbeat, retried leaves, reaping dead workers, parked peers whose grace is over), and stop."""

from __future__ import annotations

import asyncio
import logging
import uuid

from signaling import metrics
from signaling.conf import conf
from signaling.metadata import encode_state
from signaling.protocol import CloseCode, LeaveReason
from signaling.registry import RegistryUnavailable
from signaling.registry.connection import pending
from signaling.registry.redis.limits import IDENTITY, QUIET_PERIOD, REDIS_ERRORS, REDIS_TIMEOUT
from signaling.registry.redis.parking import Parking
from signaling.registry.redis.view import pairs
from signaling.timeouts import within

logger = logging.getLogger(__name__)


class Life(Parking):
    """Start, upkeep and stop."""

    async def start(self) -> None:
        if self._tasks:
            return
        async with self._start_lock:
            if self._tasks:
                return
            try:
                if not self.channel:
                    # Subscribed before any peer is admitted, so no notice to this worker can be missed.
                    self.channel = await within(self.layer.new_channel("worker."), REDIS_TIMEOUT)
                await self.heartbeat()
            except REDIS_ERRORS as error:
                raise RegistryUnavailable(str(error)) from error
            loop = asyncio.get_running_loop()
            self._tasks = [loop.create_task(self.courier.receive(self.channel)), loop.create_task(self._upkeep_loop())]

    async def deregister(self) -> None:
        """Leave the shared registry on a clean stop (after a drain this worker holds no peer): marked gone, so that
        frames published to its channel from now on follow their peers instead; frames already on their way are
        still taken and passed on for a moment; what waits in its outboxes is published (bounded). Then stop."""
        if self.channel:
            try:
                pipe = self.redis.pipeline(transaction=True)
                pipe.srem(self.key("workers"), self.channel)
                pipe.delete(self.key("hb", self.channel))
                pipe.set(self.key("gone", self.channel), "1", ex=60)
                await within(pipe.execute(), REDIS_TIMEOUT)
            except REDIS_ERRORS:
                metrics.REDIS_ERRORS.inc()
            # Publishers that saw this worker before the mark may still reach it: take what they sent.
            await asyncio.sleep(QUIET_PERIOD)
        await self.stop(finish_outboxes=True)

    async def stop(self, finish_outboxes: bool = False) -> None:
        """Stop this worker's tasks and connections (its registration then expires like a dead worker's); with
        ``finish_outboxes``, what waits to be published is published first (bounded), not dropped."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        outboxes = self.courier.flushing()
        if outboxes and finish_outboxes:
            await asyncio.wait(outboxes, timeout=REDIS_TIMEOUT)
        for task in outboxes:
            task.cancel()
        # Bounded throughout: stopping must not hang on a Redis that is gone or a task slow to unwind.
        if tasks or outboxes:
            await asyncio.wait([*tasks, *outboxes], timeout=REDIS_TIMEOUT)
        for closing in (self.redis.aclose(), self.layer.flush()):
            try:
                await within(closing, REDIS_TIMEOUT)
            except (*REDIS_ERRORS, RuntimeError):
                pass

    async def _upkeep_loop(self) -> None:
        interval = max(0.1, self.registry.worker_timeout / 4)
        failing = False
        while True:
            await asyncio.sleep(interval)
            try:
                await self.heartbeat()
                await self._retry_unsynced_leaves()
                await self.reap_dead_workers()
                await self.expire_due_parked()
                if failing:
                    logger.warning("Redis reachable again")
                failing = False
            except REDIS_ERRORS:
                metrics.REDIS_ERRORS.inc()
                if not failing:
                    logger.warning("Redis unreachable; relays between peers on this worker go on", exc_info=True)
                failing = True
            except Exception:
                logger.exception("Registry upkeep failed")

    async def heartbeat(self) -> None:
        timeout_ms = int(self.registry.worker_timeout * 1000)
        missing, epoch = await self.scripts["heartbeat"](
            keys=[self.key("workers"), self.key("hb", self.channel), self.key("epoch")],
            args=[self.channel, timeout_ms, uuid.uuid4().hex, IDENTITY],
        )
        if self.epoch is None:
            self.epoch = epoch
        elif epoch != self.epoch:
            logger.warning("Redis lost the registry; registering this worker's %d peers again", len(self.local))
            self.epoch = epoch
            await self._rebuild()
        elif missing:
            # Same Redis, but another worker took this one for dead and announced its peers as gone.
            await self._evicted()

    async def _rebuild(self) -> None:
        for peer_id, member in list(self.local.items()):
            if member.version is None:
                continue
            await self.scripts["rejoin"](
                keys=self._member_keys(member.room_id),
                args=[
                    member.room_id,
                    peer_id,
                    self.channel,
                    member.handle.mount,
                    encode_state(member.state) if member.state else "",
                ],
            )

    async def _evicted(self) -> None:
        logger.error(
            "This worker was declared dead (it stalled past WORKER_TIMEOUT); closing its %d peers", len(self.local)
        )
        members = list(self.local.values())
        self.local.clear()
        self.local_rooms.clear()
        self.views.clear()
        for member in members:
            await member.handle.end(CloseCode.SERVICE_RESTART)

    async def _retry_unsynced_leaves(self) -> None:
        while self.unsynced_leaves:
            room_id, peer_id, reason = self.unsynced_leaves[0]
            await self._leave_in_redis(room_id, peer_id, reason, self.channel, local=False)
            self.unsynced_leaves.pop(0)

    async def reap_dead_workers(self) -> None:
        workers = [str(w) for w in await pending(self.redis.smembers(self.key("workers"))) if w != self.channel]
        if not workers:
            return
        pipe = self.redis.pipeline(transaction=False)
        for worker in workers:
            pipe.exists(self.key("hb", worker))
        alive = await pipe.execute()
        for worker, is_alive in zip(workers, alive, strict=True):
            if is_alive:
                continue
            peers = pairs(
                await self.scripts["claim"](
                    keys=[
                        self.key("workers"),
                        self.key("hb", worker),
                        self.key("peers", worker),
                        self.key("gone", worker),
                    ],
                    args=[worker],
                )
            )
            grace = conf.RESUME_GRACE
            if peers:
                logger.warning(
                    "Worker %s is gone; its %d peers %s",
                    worker,
                    len(peers),
                    f"may resume for {grace:g} s" if grace > 0 else "leave with reason timeout",
                )
            for peer_id, room_id in peers.items():
                # Its clients may be back on another worker already (their resume moved them), or soon: their places
                # are kept like those of dropped sockets, and they leave with reason timeout if nobody resumes.
                if grace <= 0 or not await self._park_in_redis(
                    room_id, peer_id, worker, grace, LeaveReason.TIMEOUT.value
                ):
                    await self._leave_in_redis(room_id, peer_id, LeaveReason.TIMEOUT.value, worker, emit=True)
