"""One worker's side of the shared registry, whole: membership (join, update, leave), moderation, relaying, and
what other workers send it; its parking (``parking``), life (``life``) and state (``state``) below it."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from signaling import metrics
from signaling.conf import conf
from signaling.metadata import PeerState, encode_state
from signaling.policy import get_room_resolver
from signaling.protocol import peer_joined_frame, peer_left_frame
from signaling.registry import (
    ENDING_REASONS,
    JoinResult,
    PeerHandle,
    RegistryUnavailable,
    RoomFull,
    count_relayed_locally,
    deliver,
    evict_members,
)
from signaling.registry.connection import pending
from signaling.registry.redis import wire
from signaling.registry.redis.courier import Courier
from signaling.registry.redis.life import Life
from signaling.registry.redis.limits import DEPARTED_FOR_GOOD, REDIS_ERRORS, REDIS_TIMEOUT
from signaling.registry.redis.scripts import PARKED
from signaling.registry.redis.view import Member, RoomView, announce_to, pairs, parse_member, states_of
from signaling.timeouts import within

if TYPE_CHECKING:
    from signaling.registry.redis.registry import RedisRegistry

logger = logging.getLogger(__name__)


class Worker(Life):
    """One worker's side of the shared registry: its channel, its peers, its views, its upkeep."""

    def __init__(self, registry: RedisRegistry) -> None:
        super().__init__(registry)
        self.courier = Courier(self.redis, self.layer, self.key, registry.outbox_limit, self)

    async def join(self, room_id: str, peer: PeerHandle, max_peers: int, state: PeerState | None = None) -> JoinResult:
        await self.start()
        member = Member(peer, room_id, state)
        # Known locally before the script runs: notices about this room that arrive meanwhile find it.
        self.local[peer.peer_id] = member
        self.local_rooms.setdefault(room_id, {})[peer.peer_id] = member
        view = self.views.setdefault(room_id, RoomView())
        try:
            reply = await self.scripts["join"](
                keys=self._member_keys(room_id),
                args=[room_id, peer.peer_id, self.channel, max_peers, peer.mount, encode_state(state) if state else ""],
            )
        except REDIS_ERRORS as error:
            metrics.REDIS_ERRORS.inc()
            self._forget_local(room_id, peer.peer_id)
            raise RegistryUnavailable(str(error)) from error
        if reply[0] == "full":
            self._forget_local(room_id, peer.peer_id)
            raise RoomFull(max_peers)
        version = int(reply[0])
        members = {peer_id: parse_member(value) for peer_id, value in pairs(reply[1]).items()}
        view.load(members, as_of=version)
        member.version = version
        for stashed_version, frame in member.stash:
            if stashed_version > version:
                await deliver(peer, frame)
        member.stash.clear()
        await self._announce(
            room_id,
            peer.peer_id,
            version,
            self.channel,
            peer_joined_frame(peer.peer_id, state),
            {worker for worker, _, _ in members.values()},
        )
        return JoinResult(peers=list(members), room_created=not members, states=states_of(reply[2]))

    async def update(self, room_id: str, peer_id: str, state: PeerState, frame: str) -> bool:
        member = self.local.get(peer_id)
        if member is None or member.room_id != room_id or member.version is None:
            return False
        try:
            flat = await self.scripts["update"](
                keys=[self.key("room", room_id), self.key("state", room_id)],
                args=[peer_id, self.channel, encode_state(state)],
            )
        except REDIS_ERRORS as error:
            metrics.REDIS_ERRORS.inc()
            raise RegistryUnavailable(str(error)) from error
        if not flat:
            return False
        member.state = state
        # To the workers of the members as Redis has them when the state changed, not as this worker's view has
        # them: a peer whose join ran before the change gets the frame even if its arrival has not reached this
        # worker yet (one whose join ran after finds the new state in its `joined`).
        workers = {worker for worker, _, _ in (parse_member(value) for value in pairs(flat).values())}
        for other_id, other in list(self.local_rooms.get(room_id, {}).items()):
            if other_id != peer_id:
                await deliver(other.handle, frame)
        recipients: dict[str, list[str]] = {}
        for other_id, value in pairs(flat).items():
            worker = parse_member(value)[0]
            if other_id != peer_id and worker not in (self.channel, PARKED):
                recipients.setdefault(worker, []).append(other_id)
        for worker in workers - {self.channel, PARKED}:
            self.courier.post(worker, wire.to_room(room_id, peer_id, frame, recipients.get(worker, [])))
        return True

    async def leave(self, room_id: str, peer_id: str, reason: str) -> bool | None:
        if self.local.get(peer_id) is None:
            return None
        self._forget_local(room_id, peer_id, keep_view=True)
        try:
            if reason in ENDING_REASONS:
                # A moderator ended the stay of a connected peer: should the close never reach its client, the
                # resume it then tries (on any worker) is told so too, as a parked peer's is (``expire_parked``),
                # and not let in as a new peer. Set before the peer leaves: no resume can fall in between.
                grace = int(conf.RESUME_GRACE * 1000)
                await pending(self.redis.set(self._ended_key(room_id, peer_id), reason, px=max(1, grace)))
            destroyed = await self._leave_in_redis(room_id, peer_id, reason, self.channel)
        except REDIS_ERRORS:
            metrics.REDIS_ERRORS.inc()
            # Redis will hear of it from the upkeep loop; this worker's own peers hear of it now.
            self.unsynced_leaves.append((room_id, peer_id, reason))
            frame = peer_left_frame(peer_id, reason)
            view = self.views.get(room_id)
            if view is not None:
                view.apply(peer_id, DEPARTED_FOR_GOOD, None)
            for member in list(self.local_rooms.get(room_id, {}).values()):
                await deliver(member.handle, frame)
            destroyed = room_id not in self.local_rooms and not (view and view.members())
        if room_id not in self.local_rooms:
            self.views.pop(room_id, None)
        return destroyed

    async def evict(self, room_id: str, peer_id: str | None, reason: str) -> int:
        try:
            holders = {
                str(member): parse_member(str(value))[0]
                for member, value in (await pending(self.redis.hgetall(self.key("room", room_id)))).items()
                if peer_id is None or member == peer_id
            }
            # The room must be forgotten by every worker's resolver, whether or not it holds a member: a closed
            # room's next join, or a kicked and banned user's, may reach any worker.
            workers = {str(name) for name in await pending(self.redis.smembers(self.key("workers")))}
            for parked_peer in [peer for peer, worker in holders.items() if worker == PARKED]:
                await self.expire_parked(room_id, parked_peer, reason)
            for worker in workers | (set(holders.values()) - {PARKED}):
                if worker == self.channel:
                    await self._evict_local(room_id, peer_id, reason)
                else:
                    # Sent now rather than through an outbox: a caller outside the worker's event loop (a
                    # management command) may close its loop as soon as this returns.
                    item = wire.evict(room_id, peer_id, reason)
                    await within(self.layer.send(worker, {"type": "signaling.deliver", "items": [item]}), REDIS_TIMEOUT)
        except REDIS_ERRORS as error:
            metrics.REDIS_ERRORS.inc()
            raise RegistryUnavailable(str(error)) from error
        get_room_resolver().forget(room_id)
        return len(holders)

    async def _evict_local(self, room_id: str, peer_id: str | None, reason: str) -> None:
        room = self.local_rooms.get(room_id, {})
        await evict_members(room_id, {member_id: member.handle for member_id, member in room.items()}, peer_id, reason)

    # -- relay -----------------------------------------------------------------------------------------------

    async def relay(self, room_id: str, sender_id: str, to: str | None, frame: str) -> int:
        view = self.views.get(room_id)
        if view is None:
            return 0
        if to is not None:
            worker = view.worker_of(to)
            if worker is None or to == sender_id:
                return 0
            if worker == PARKED:
                await self.keep(room_id, to, frame)
            elif worker == self.channel:
                member = self.local.get(to)
                if member is None or member.room_id != room_id:
                    return 0
                await deliver(member.handle, frame)
                count_relayed_locally(1)
            else:
                self.courier.post(worker, wire.to_peer(room_id, to, frame))
            return 1
        count = 0
        for peer_id, member in list(self.local_rooms.get(room_id, {}).items()):
            if peer_id != sender_id:
                await deliver(member.handle, frame)
                count += 1
        count_relayed_locally(count)
        remote: dict[str, list[str]] = {}
        for peer_id, worker in view.members().items():
            if worker == PARKED and peer_id != sender_id:
                await self.keep(room_id, peer_id, frame)
                count += 1
            elif worker != self.channel and peer_id != sender_id:
                remote.setdefault(worker, []).append(peer_id)
        for worker, peers in remote.items():
            # Named: a worker that no longer holds one of them (parked, or resumed elsewhere, since this view
            # was current) keeps the frame for it rather than losing it.
            self.courier.post(worker, wire.to_room(room_id, sender_id, frame, peers))
            count += len(peers)
        return count

    # -- what other workers send -------------------------------------------------------------------------------

    def peers_on(self, room_id: str, worker: str, sender_id: str) -> list[str]:
        view = self.views.get(room_id)
        members = view.members() if view is not None else {}
        return [peer_id for peer_id, where in members.items() if where == worker and peer_id != sender_id]

    async def apply(self, notice: wire.Notice) -> None:
        """A notice from another worker (through the courier)."""
        if isinstance(notice, wire.ToPeer):
            member = self.local.get(notice.peer_id)
            if member is not None and member.room_id == notice.room_id:
                await deliver(member.handle, notice.frame)
                count_relayed_locally(1)
            else:
                # Sent while the sender took the peer to be here: it was parked or resumed elsewhere since.
                await self.keep(notice.room_id, notice.peer_id, notice.frame, forwarded=notice.forwarded)
        elif isinstance(notice, wire.ToRoom):
            await self._apply_room_frame(notice)
        elif isinstance(notice, wire.Membership):
            await self._apply_membership(notice)
        else:
            await self._evict_local(notice.room_id, notice.peer_id, notice.reason)

    async def _apply_room_frame(self, notice: wire.ToRoom) -> None:
        """A frame for the room: to its members here (one that joined since the sender's view was current too),
        and kept for those the sender took to be here that are not any more (parked, or resumed elsewhere,
        meanwhile). A notice that names nobody (an older release's, during a rolling deploy) reaches the members
        here only."""
        room_id = notice.room_id
        if notice.recipients is None and room_id not in self.views:
            return  # no peer of this room is on this worker (any more)
        delivered = {notice.sender_id}
        for peer_id, member in list(self.local_rooms.get(room_id, {}).items()):
            if peer_id not in delivered:
                delivered.add(peer_id)
                await deliver(member.handle, notice.frame)
                count_relayed_locally(1)
        for peer_id in notice.recipients or ():
            if peer_id not in delivered:
                await self.keep(room_id, peer_id, notice.frame)

    async def _apply_membership(self, notice: wire.Membership) -> None:
        room_id, peer_id, worker, version = notice.room_id, notice.peer_id, notice.worker, notice.version
        view = self.views.get(room_id)
        if view is None:
            return  # no peer of this room is on this worker (any more)
        view.apply(peer_id, version, worker)
        moved = self.local.get(peer_id)
        if (
            worker is not None
            and worker != self.channel
            and moved is not None
            and moved.room_id == room_id
            and moved.version is not None
            and version > moved.version
        ):
            # A resume on another worker took this peer's place: its socket here is closed, nothing announced.
            self._forget_local(room_id, peer_id)
            await moved.handle.replaced()
        if notice.frame is None:
            return
        for member in list(self.local_rooms.get(room_id, {}).values()):
            if member.handle.peer_id != peer_id:
                await announce_to(member, version, notice.frame)
