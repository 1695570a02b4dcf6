"""The courier: what one worker sends other workers, and what it receives from them, through Redis pub/sub.

Sending: one outbox per destination worker, bounded in characters of frames (``CROSS_WORKER_BUFFER_BYTES``),
flushed by one task per destination in batches, in order (what one peer sends another arrives in order); a batch
is retried while Redis is unreachable (``PUBLISH_RETRY_SECONDS``), and one for a worker known to be gone follows
its peers instead (kept for them if they are parked, sent on if a resume moved them).

Receiving: one loop on this worker's channel that decodes each notice (``wire.decode``) and hands it to the
worker. The courier calls back into the worker through ``Recipient`` and never imports it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from channels_redis.pubsub import RedisPubSubChannelLayer
from redis.asyncio import Redis

from signaling import metrics
from signaling.registry.redis import wire
from signaling.registry.redis.limits import BATCH_SIZE, PUBLISH_RETRY_SECONDS, REDIS_ERRORS, REDIS_TIMEOUT
from signaling.timeouts import within

logger = logging.getLogger(__name__)


class Recipient(Protocol):
    """What the courier needs of its worker."""

    async def apply(self, notice: wire.Notice) -> None:
        """A notice from another worker."""

    async def keep(self, room_id: str, peer_id: str, frame: str, forwarded: bool) -> None:
        """Keep a frame for a parked peer, or send it where a resume moved it."""

    def peers_on(self, room_id: str, worker: str, sender_id: str) -> list[str]:
        """The room's members other than ``sender_id`` that this worker's view has on ``worker``."""


class Outbox:
    """What waits to be published to one other worker, bounded in characters of frames (``size``)."""

    __slots__ = ("items", "size", "task")

    def __init__(self) -> None:
        self.items: list[wire.Item] = []
        self.task: asyncio.Task[None] | None = None
        self.size = 0


class Courier:
    def __init__(
        self, redis: Redis, layer: RedisPubSubChannelLayer, key: Callable[..., str], limit: int, recipient: Recipient
    ) -> None:
        self.redis = redis
        self.layer = layer
        self.key = key
        self.limit = limit
        self.recipient = recipient
        self.outboxes: dict[str, Outbox] = {}

    def post(self, worker: str, item: wire.Item) -> None:
        """Queue ``item`` for ``worker``; never blocks. Past the outbox's bound the item is dropped (and counted)."""
        outbox = self.outboxes.get(worker)
        if outbox is None:
            outbox = self.outboxes[worker] = Outbox()
        size = wire.frame_size(item)
        if outbox.size + size > self.limit:
            metrics.CROSS_WORKER_DROPPED.inc()
            logger.error("Dropping a message for worker %s: %d bytes already wait for Redis", worker, outbox.size)
            return
        metrics.RELAYED_CROSS_WORKER.inc()
        outbox.size += size
        outbox.items.append(item)
        if outbox.task is None or outbox.task.done():
            outbox.task = asyncio.get_running_loop().create_task(self._flush(worker, outbox))

    def flushing(self) -> list[asyncio.Task[None]]:
        """The outboxes' tasks still at work."""
        return [outbox.task for outbox in self.outboxes.values() if outbox.task and not outbox.task.done()]

    async def _flush(self, worker: str, outbox: Outbox) -> None:
        # One task per destination, sending batches in order: what one peer sends another arrives in order.
        while outbox.items:
            batch = outbox.items[:BATCH_SIZE]
            del outbox.items[:BATCH_SIZE]
            outbox.size -= sum(wire.frame_size(item) for item in batch)
            deadline = time.monotonic() + PUBLISH_RETRY_SECONDS
            while True:
                try:
                    if await self._publish(worker, batch):
                        break
                    # Nobody listens on that worker's channel. A worker known to be gone (it drained, or it was
                    # reaped): its peers are parked or moved, and the frames meant for them go after them. Any
                    # other (resubscribing after a Redis restart, or dead but not reaped yet): publish again
                    # shortly, until it listens or is known gone.
                    if await self.redis.exists(self.key("gone", worker)):
                        await self._redirect(worker, batch)
                        break
                except REDIS_ERRORS:
                    metrics.REDIS_ERRORS.inc()
                if time.monotonic() > deadline:
                    metrics.CROSS_WORKER_DROPPED.inc(len(batch))
                    logger.error(
                        "Dropped %d messages for worker %s: not delivered for %.0f s",
                        len(batch),
                        worker,
                        PUBLISH_RETRY_SECONDS,
                    )
                    break
                metrics.CROSS_WORKER_RETRIED.inc()
                await asyncio.sleep(0.2)
        if self.outboxes.get(worker) is outbox and not outbox.items:
            del self.outboxes[worker]

    async def _publish(self, worker: str, batch: list[wire.Item]) -> bool:
        """Publish one batch; True when the worker's channel had a subscriber to take it. Redis errors go to the
        caller (it retries). An item the layer cannot serialize spoils only itself: the batch is then sent item by
        item and that one is dropped and logged.

        Published with this worker's own Redis client rather than the channel layer's ``send``, in the layer's
        serialization: ``PUBLISH`` answers how many subscribers took the message, which ``send`` does not tell."""
        try:
            payload = self.layer.serialize({"type": "signaling.deliver", "items": batch, "at": time.time()})
        except Exception:
            if len(batch) == 1:
                metrics.CROSS_WORKER_DROPPED.inc()
                logger.exception("Dropped a message for worker %s that cannot be serialized", worker)
                return True
            delivered = True
            for item in batch:
                delivered = await self._publish(worker, [item]) and delivered
            return delivered
        receivers = await within(self.redis.publish(worker, payload), REDIS_TIMEOUT)
        return int(receivers) > 0

    async def _redirect(self, gone: str, batch: list[wire.Item]) -> None:
        """Frames for peers of a worker that is gone follow them: kept if they are parked, sent on if a resume moved
        them. Announcements meant for its peers' views are moot."""
        for notice in map(wire.decode, batch):
            if isinstance(notice, wire.ToPeer):
                await self.recipient.keep(notice.room_id, notice.peer_id, notice.frame, notice.forwarded)
            elif isinstance(notice, wire.ToRoom):
                peers = notice.recipients
                if peers is None:
                    peers = tuple(self.recipient.peers_on(notice.room_id, gone, notice.sender_id))
                for peer_id in peers:
                    await self.recipient.keep(notice.room_id, peer_id, notice.frame, False)

    async def receive(self, channel: str) -> None:
        """Take what other workers send to ``channel``, notice by notice, until cancelled."""
        while True:
            try:
                message = await self.layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("Receiving from Redis failed; retrying", exc_info=True)
                await asyncio.sleep(0.5)
                continue
            sent_at = message.get("at")
            if isinstance(sent_at, float):
                metrics.CROSS_WORKER_LATENCY.observe(max(0.0, time.time() - sent_at))
            items: Any = message.get("items")
            for item in items if isinstance(items, list) else []:
                try:
                    notice = wire.decode(item)
                except wire.UndecodableNotice:
                    logger.exception("Dropped a notice this worker cannot read")
                    continue
                try:
                    await self.recipient.apply(notice)
                except Exception:
                    logger.exception("Applying a notice failed")
