"""Parking and resuming: a member whose socket dropped (or whose worker drains or died) keeps its place in Redis for
its grace period, with what is sent to it meanwhile; a resume on any worker takes the place back."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime

from django.utils import timezone

from signaling import metrics
from signaling.background import in_background
from signaling.conf import conf
from signaling.protocol import ROLE_PEER_PREFIX, LeaveReason, peer_left_frame
from signaling.registry import (
    ENDING_REASONS,
    Ended,
    PeerHandle,
    RegistryUnavailable,
    Resumed,
    deliver,
    send_departure_events,
)
from signaling.registry.connection import pending
from signaling.registry.redis import wire
from signaling.registry.redis.limits import REDIS_ERRORS
from signaling.registry.redis.scripts import PARKED
from signaling.registry.redis.state import WorkerState
from signaling.registry.redis.view import Collector, Member, RoomView, pairs, parse_member, states_of

logger = logging.getLogger(__name__)


class Parking(WorkerState):
    """Parking a member, keeping what is sent to it, resuming it anywhere, and letting it go when its grace is over."""

    def _parked_keys(self, room_id: str, peer_id: str) -> tuple[str, str]:
        return self.key("parked", room_id, peer_id), self.key("kept", room_id, peer_id)

    def _ended_key(self, room_id: str, peer_id: str) -> str:
        """Why a moderator evicted this parked peer, for its resume (kept for ``RESUME_GRACE``)."""
        return self.key("ended", room_id, peer_id)

    async def _park_in_redis(
        self, room_id: str, peer_id: str, owner: str, grace: float, reason: str, client: str = "", handoff: str = ""
    ) -> bool:
        """Turn ``owner``'s member into a parked one, announced silently to the room's workers; False when it is
        not ``owner``'s (any more)."""
        parked_key, kept_key = self._parked_keys(room_id, peer_id)
        reply = await self.scripts["park"](
            keys=[
                self.key("room", room_id),
                self.key("peers", owner),
                parked_key,
                kept_key,
                self.key("parked"),
                self.key("clock"),
            ],
            args=[
                room_id,
                peer_id,
                owner,
                int(grace * 1000),
                reason,
                f"{room_id}|{peer_id}",
                f"{time.time():.3f}",
                client,
                handoff,
            ],
        )
        if not reply:
            return False
        members = {peer: parse_member(value) for peer, value in pairs(reply[1]).items()}
        await self._announce(room_id, peer_id, int(reply[0]), PARKED, None, {w for w, _, _ in members.values()})
        return True

    async def park(
        self,
        room_id: str,
        peer_id: str,
        expected: PeerHandle,
        grace: float,
        still_speaking: bool = False,
        handoff: str = "",
    ) -> bool:
        member = self.local.get(peer_id)
        if member is None or member.room_id != room_id or member.handle is not expected or member.version is None:
            return False
        # Frames for the peer that reach this worker while the script runs are collected, then kept in Redis.
        collector = Collector(expected.mount, expected.client)
        member.handle = collector
        try:
            parked = await self._park_in_redis(
                room_id, peer_id, self.channel, grace, LeaveReason.DISCONNECT.value, expected.client, handoff
            )
        except REDIS_ERRORS:
            metrics.REDIS_ERRORS.inc()
            parked = False
        if not parked:
            member.handle = expected
            return False
        while collector.frames:
            await self.keep(room_id, peer_id, collector.frames.pop(0))
        # No await since the loop saw the collector empty: from here on, frames for the peer go to Redis. The
        # room's view goes too if no other member is here (frames that still arrive for the peer need none),
        # unless the peer still speaks: a drain parks a peer before it closes the socket, and what the client
        # sends meanwhile is relayed as the parked peer, through this view, until the worker stops.
        self._forget_local(room_id, peer_id, keep_view=still_speaking)
        # On time while this worker lives; every worker's upkeep sweep covers the case where it does not.
        loop = asyncio.get_running_loop()
        loop.call_later(grace, lambda: in_background(self._expire_when_due(room_id, peer_id), loop))
        return True

    async def keep(self, room_id: str, peer_id: str, frame: str, forwarded: bool = False) -> None:
        """Keep a frame for a parked peer in Redis; if a resume moved the peer meanwhile, send it there instead."""
        parked_key, kept_key = self._parked_keys(room_id, peer_id)
        try:
            reply = await self.scripts["keep"](
                keys=[parked_key, kept_key, self.key("room", room_id)],
                args=[peer_id, frame, conf.PARKED_BUFFER_FRAMES, conf.PARKED_BUFFER_BYTES],
            )
        except REDIS_ERRORS:
            metrics.REDIS_ERRORS.inc()
            logger.warning("Could not keep a frame for parked peer %s: Redis unreachable", peer_id)
            return
        status = reply[0]
        if status == "overflow":
            # Its resume could no longer be complete: it leaves now.
            await self.expire_parked(room_id, peer_id, LeaveReason.DISCONNECT.value)
        elif status == "moved":
            worker = parse_member(reply[1])[0]
            member = self.local.get(peer_id)
            if worker == self.channel and member is not None and member.room_id == room_id:
                await deliver(member.handle, frame)
            elif worker != self.channel and not forwarded:
                self.courier.post(worker, wire.to_peer(room_id, peer_id, frame, forwarded=True))

    async def resume(self, room_id: str, peer_id: str, new: PeerHandle) -> Resumed | Ended | None:
        await self.start()
        parked_key, kept_key = self._parked_keys(room_id, peer_id)
        try:
            reply = await self.scripts["resume"](
                keys=[
                    self.key("room", room_id),
                    parked_key,
                    kept_key,
                    self.key("parked"),
                    self.key("peers", self.channel),
                    self.key("clock"),
                    self.key("state", room_id),
                    self._ended_key(room_id, peer_id),
                ],
                args=[room_id, peer_id, self.channel, new.mount, self.registry.prefix, f"{room_id}|{peer_id}"],
            )
        except REDIS_ERRORS as error:
            metrics.REDIS_ERRORS.inc()
            raise RegistryUnavailable(str(error)) from error
        if not reply:
            return None
        if reply[0] == "ended":
            return Ended(str(reply[1]))
        version, old, frames, flat, states = int(reply[0]), str(reply[1]), reply[2], reply[3], states_of(reply[4])
        handoff = str(reply[5] or "")
        # Kept frames first, in order: the new handle holds them until its `joined` is out.
        for frame in frames:
            await new.deliver(frame)
        members = {peer: parse_member(value) for peer, value in pairs(flat).items()}
        existing = self.local.get(peer_id)
        if existing is not None and existing.room_id == room_id:
            previous, existing.handle, existing.version = existing.handle, new, version
            existing.state = states.get(peer_id)
            if previous is not new:
                await previous.replaced()
        else:
            member = Member(new, room_id, states.get(peer_id))
            member.version = version
            self.local[peer_id] = member
            self.local_rooms.setdefault(room_id, {})[peer_id] = member
        view = self.views.setdefault(room_id, RoomView())
        view.load(members, as_of=version)
        # Silently: every worker of the room (and the one that held the peer) learns where it is now.
        workers = {worker for worker, _, _ in members.values()} | ({old} - {PARKED})
        await self._announce(room_id, peer_id, version, self.channel, None, workers)
        return Resumed(
            peers=[other for other in members if other != peer_id],
            from_other_worker=old != self.channel,
            states=states,
            handoff=handoff,
        )

    async def expire_due_parked(self) -> None:
        """Let every parked peer whose grace period is over leave (any worker may: the script lets one win)."""
        seconds, microseconds = await self.redis.time()
        now_ms = int(seconds) * 1000 + int(microseconds) // 1000
        for due in await self.redis.zrangebyscore(self.key("parked"), "-inf", now_ms, start=0, num=500):
            room_id, _, peer_id = str(due).partition("|")
            await self.expire_parked(room_id, peer_id, "", due=True)

    async def _expire_when_due(self, room_id: str, peer_id: str) -> None:
        try:
            await self.expire_parked(room_id, peer_id, "", due=True)
        except REDIS_ERRORS:
            metrics.REDIS_ERRORS.inc()  # the upkeep loops' sweeps will let it leave

    async def expire_parked(self, room_id: str, peer_id: str, reason: str, due: bool = False) -> bool:
        """A parked peer leaves: with ``reason`` (kicked, room-closed, disconnect), or '' for the one it was parked
        with; with ``due``, only if its grace period is over (a resume and a new parking may have moved it).
        Announced to its room and recorded; False if it was not parked (any more)."""
        parked_key, kept_key = self._parked_keys(room_id, peer_id)
        reply = await self.scripts["expire_parked"](
            keys=[
                self.key("room", room_id),
                parked_key,
                kept_key,
                self.key("parked"),
                self.key("rooms"),
                self.key("clock"),
                self.key("state", room_id),
                self._ended_key(room_id, peer_id),
            ],
            args=[
                room_id,
                peer_id,
                f"{room_id}|{peer_id}",
                reason,
                "due" if due else "",
                int(conf.RESUME_GRACE * 1000) if reason in ENDING_REASONS else 0,
            ],
        )
        if not reply:
            return False
        version, flat, parked_value, left_reason, dropped_at = reply
        members = {peer: parse_member(value) for peer, value in pairs(flat).items()}
        await self._announce(
            room_id,
            peer_id,
            int(version),
            None,
            peer_left_frame(peer_id, str(left_reason)),
            {worker for worker, _, _ in members.values()},
        )
        at = timezone.now()
        if dropped_at:
            at = datetime.fromtimestamp(float(dropped_at), tz=UTC)
        send_departure_events(room_id, peer_id, str(left_reason), parse_member(parked_value)[2], not members, at)
        if room_id not in self.local_rooms:
            self.views.pop(room_id, None)
        return True

    async def release_parked_seat(self, room_id: str, role_peer: bool, client: str) -> bool:
        if not client:
            return False
        try:
            entries = await pending(self.redis.hgetall(self.key("room", room_id)))
            parked = [
                str(member)
                for member, value in entries.items()
                if parse_member(str(value))[0] == PARKED and str(member).startswith(ROLE_PEER_PREFIX) == role_peer
            ]
            for peer_id in parked:
                parked_key, _ = self._parked_keys(room_id, peer_id)
                if await pending(self.redis.hget(parked_key, "client")) != client:
                    continue
                # A resume or the deadline may take it first: the script lets one win.
                if await self.expire_parked(room_id, peer_id, LeaveReason.DISCONNECT.value):
                    return True
        except REDIS_ERRORS as error:
            metrics.REDIS_ERRORS.inc()
            raise RegistryUnavailable(str(error)) from error
        return False
