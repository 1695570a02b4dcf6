"""This worker's link to the SFU: its Janus nodes (``signaling.sfu.nodes``), one connection to each per event loop
with one handle of its own there for the requests about rooms (create, destroy, kick), and where each room is
(the registry's ``sfu_placement()``, which every worker shares). ``get_sfu()`` is None where no SFU is configured.

While peers of this worker are in SFU rooms, a watch runs (every ``SFU_HEALTH_INTERVAL``): it pings the nodes they
are on, marks one that does not answer down for every worker, and tells each peer whose room is no longer where
its session is (its node went down, or was drained and the room moved) to move (``SfuMember.lose()``: the consumer
joins the room on its new node and the client publishes and subscribes again, under the same peer id). Rooms on a
draining node are moved off it here too, one at a time across every worker (``SFU_DRAIN_STEP``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import weakref
from collections.abc import Awaitable, Callable

from django.core.signals import setting_changed
from django.dispatch import receiver

from signaling import metrics
from signaling.conf import conf
from signaling.registry import RegistryUnavailable, get_registry
from signaling.registry.placement import SfuPlacement
from signaling.sfu.janus import JanusConnection, JanusError, JanusSession, JanusUnavailable
from signaling.sfu.member import SfuMember
from signaling.sfu.nodes import DEFAULT_NODE, SfuNodeConfig, configured_nodes
from signaling.sfu.videoroom import VideoRoomAdmin

logger = logging.getLogger(__name__)

#: Seconds a health check waits for a node's answer.
PING_TIMEOUT = 2.0


class NoSfuNode(JanusUnavailable):
    """No node can take the room now (every one is down, draining or full)."""


class SfuNode:
    """One Janus of this worker: its connection, and the handle for room requests, made on first use."""

    def __init__(self, config: SfuNodeConfig, api_secret: str, admin_key: str) -> None:
        self.name = config.name
        self.capacity = config.capacity
        self.connection = JanusConnection(config.url, api_secret)
        self.admin_key = admin_key
        self._admin: VideoRoomAdmin | None = None
        self._session: JanusSession | None = None
        self._lock = asyncio.Lock()
        self._generation = 0
        #: Whether the node answered this worker's last request to it (None: none made yet).
        self.answering: bool | None = None

    def answered(self, answering: bool) -> None:
        self.answering = answering
        metrics.SFU_NODE_UP.labels(self.name).set(1 if answering else 0)

    async def admin(self) -> VideoRoomAdmin:
        """The handle for room requests, made on first use (and again after the node came back)."""
        async with self._lock:
            # A session is of the socket it was made on: after the socket was lost (the node may have restarted,
            # with no session of before), a new one, on a new socket.
            if self._admin is None or self.connection.closed or self._generation != self.connection.generation:
                if self._session is not None:
                    self._session.stop_keepalive()  # the session went with the connection it was made on
                self._session = await self.connection.create_session()
                self._generation = self.connection.generation
                self._session.keep_alive()
                self._admin = VideoRoomAdmin(await self._session.attach(), self.admin_key)
            return self._admin

    async def ping(self, answer_within: float | None = None) -> bool:
        """Whether the node answers now."""
        try:
            await self.connection.request({"janus": "ping"}, answer_within=answer_within)
        except (JanusError, JanusUnavailable):
            self.answered(False)
            return False
        self.answered(True)
        return True

    async def release(self) -> None:
        """Give back what this worker holds on the node (its room handle's session): a drained node ends with no
        session of ours."""
        async with self._lock:
            session, self._session, self._admin = self._session, None, None
        if session is not None:
            await session.destroy()


class SfuService:
    """The SFU nodes of one event loop, and where rooms are on them."""

    def __init__(self, nodes: dict[str, SfuNodeConfig], api_secret: str, admin_key: str) -> None:
        self.nodes = {name: SfuNode(config, api_secret, admin_key) for name, config in nodes.items()}
        self.capacities = {name: config.capacity for name, config in nodes.items()}
        #: This loop's members in SFU rooms (the watch looks after them while there are any).
        self.members: weakref.WeakSet[SfuMember] = weakref.WeakSet()
        self._watch: asyncio.Task[None] | None = None

    @property
    def placement(self) -> SfuPlacement:
        return get_registry().sfu_placement()

    async def ping(self) -> bool:
        """Whether any node answers now (counted in ``signaling_sfu_up``)."""
        answers = await asyncio.gather(*(node.ping() for node in self.nodes.values()))
        metrics.SFU_UP.set(1 if any(answers) else 0)
        return any(answers)

    async def node_for(self, room_id: str, avoid: str = "") -> SfuNode:
        """The node of ``room_id``, placed (or moved) by the registry's placement; ``NoSfuNode`` when none can take
        it. Nodes are only marked down, never trusted up: when every node is marked down, they are tried anyway."""
        try:
            name = await self.placement.place(room_id, self.capacities, avoid)
            if name is None:
                name = await self.placement.place(room_id, self.capacities, avoid, despite_down=True)
        except RegistryUnavailable as error:
            raise JanusUnavailable(f"where the room is cannot be read: {error}") from None
        if name is None or name not in self.nodes:
            raise NoSfuNode("no SFU node can take the room now")
        return self.nodes[name]

    async def node_failed(self, node: SfuNode) -> None:
        """A request to ``node`` went unanswered: unless it answers a ping now, it is down for every worker."""
        if await node.ping(PING_TIMEOUT):
            await self.node_back(node)
            return
        logger.warning("SFU node %s does not answer: marked down for %s s", node.name, conf.SFU_DOWN_HOLD)
        with contextlib.suppress(RegistryUnavailable):
            await self.placement.mark_down(node.name, conf.SFU_DOWN_HOLD)

    async def node_back(self, node: SfuNode) -> None:
        """``node`` answers (again): not down for anyone any more."""
        with contextlib.suppress(RegistryUnavailable):
            await self.placement.mark_up(node.name)

    async def member(
        self,
        room_id: str,
        peer_id: str,
        publishers: int,
        send: Callable[[str], Awaitable[None]],
        on_lost: Callable[[], Awaitable[None]] | None = None,
    ) -> SfuMember:
        """A member for ``peer_id`` in the Janus room of ``room_id`` on the room's node (made if need be), not
        joined yet. A node that does not answer is marked down, and the room placed on another."""
        for _ in range(len(self.nodes) + 1):
            node = await self.node_for(room_id)
            try:
                room = await (await node.admin()).ensure(room_id, publishers)
            except JanusUnavailable:
                await self.node_failed(node)
                continue
            if node.answering is False:
                await self.node_back(node)
            node.answered(True)
            member = SfuMember(node.connection, room, peer_id, send, on_lost, node.name, publishers)
            self.track(member)
            return member
        raise NoSfuNode("no SFU node answers")

    async def resumed_member(
        self,
        room_id: str,
        peer_id: str,
        publishers: int,
        send: Callable[[str], Awaitable[None]],
        on_lost: Callable[[], Awaitable[None]] | None,
        handoff: str,
        display: str = "",
    ) -> tuple[SfuMember, bool]:
        """The member of a resumed peer, and whether it took over the Janus session its last connection handed on
        (``handoff``; its media went on). Otherwise (nothing handed on, Janus ended that session meanwhile, or the
        room is on another node now) it has joined anew under the same peer id, and the client must publish and
        subscribe again."""
        member = await self.member(room_id, peer_id, publishers, send, on_lost)
        admin = await self.nodes[member.node].admin()
        taken = _handed_on(handoff)
        if taken is not None and taken.get("node", DEFAULT_NODE) == member.node:
            present = [str(entry["id"]) for entry in await admin.participants(room_id) if entry.get("publisher")]
            try:
                await member.take_over(taken, present)
                return member, True
            except JanusError as error:
                logger.info("Could not take over the SFU session of %s (%s); it joins anew", peer_id, error)
                await member.let_go()
        # The old session may still be in the room under this peer id (its worker died): it makes way.
        await admin.kick(room_id, peer_id)
        await member.join(display)
        return member, False

    async def retire(self, member: SfuMember) -> None:
        """A member whose peer moved to another node: its session goes, and the room on the old node too once
        nobody is left in it. On a node that does not answer, the worker only lets go of it."""
        node = self.nodes.get(member.node)
        self.members.discard(member)
        if node is None or node.connection.closed or not await node.ping(PING_TIMEOUT):
            await member.let_go()
            return
        await member.leave()
        with contextlib.suppress(JanusError, JanusUnavailable):
            admin = await node.admin()
            if not await admin.participants(member.room.room_id):
                await admin.destroy(member.room.room_id)

    def track(self, member: SfuMember) -> None:
        self.members.add(member)
        if self._watch is None or self._watch.done():
            self._watch = asyncio.ensure_future(self._watch_members())

    def forget(self, member: SfuMember) -> None:
        self.members.discard(member)

    async def room_ended(self, room_id: str) -> None:
        """The room ended (``sfu.room_end``): its Janus room goes too, with any participant left in it."""
        try:
            found = await self.placement.node_of([room_id])
        except RegistryUnavailable:
            found = {}
        name = found.get(room_id)
        nodes = [self.nodes[name]] if name in self.nodes else list(self.nodes.values())
        for node in nodes:
            with contextlib.suppress(JanusUnavailable):
                await (await node.admin()).destroy(room_id)
        with contextlib.suppress(RegistryUnavailable):
            await self.placement.forget(room_id, name)

    async def kick(self, room_id: str, peer_id: str) -> None:
        try:
            found = await self.placement.node_of([room_id])
        except RegistryUnavailable as error:
            raise JanusUnavailable(f"where the room is cannot be read: {error}") from None
        node = self.nodes.get(found.get(room_id, ""))
        if node is not None:
            await (await node.admin()).kick(room_id, peer_id)

    # -- the watch ------------------------------------------------------------------------------------------------

    async def _watch_members(self) -> None:
        """While this loop has members: check their nodes, move those whose room is elsewhere, drain."""
        while self.members:
            await asyncio.sleep(conf.SFU_HEALTH_INTERVAL)
            try:
                await self.check_members()
            except RegistryUnavailable as error:
                logger.warning("The SFU watch cannot read the registry: %s", error)
            except Exception:
                logger.exception("The SFU watch failed")

    async def check_members(self) -> None:
        members = [member for member in self.members if member.serving]
        used = {member.node for member in members}
        silent_before = {name for name in used if self.nodes[name].answering is False}
        # A node that does not answer loses its members here (one whose connection closed lost them already).
        answers = dict(
            zip(used, await asyncio.gather(*(self.nodes[name].ping(PING_TIMEOUT) for name in used)), strict=True)
        )
        for name, answered in answers.items():
            if answered and name in silent_before:
                await self.node_back(self.nodes[name])
            if not answered:
                logger.warning("SFU node %s does not answer: its peers here move", name)
                await self.placement.mark_down(name, conf.SFU_DOWN_HOLD)
        draining = await self.placement.draining()
        for name in used & draining:
            if answers.get(name):
                await self.drain_step(name, [member for member in members if member.node == name])
        placed = await self.placement.node_of({member.room.room_id for member in members})
        for member in members:
            if not answers.get(member.node) or placed.get(member.room.room_id, member.node) != member.node:
                member.lose()
        for name in draining - used:
            if name in self.nodes:
                await self.nodes[name].release()

    async def drain_step(self, name: str, members: list[SfuMember]) -> None:
        """Move one room of this worker's members off draining node ``name``, if no other worker moved one just now."""
        rooms = sorted({member.room.room_id for member in members})
        placed = await self.placement.node_of(rooms)
        for room_id in rooms:
            if placed.get(room_id) != name:
                continue
            if not await self.placement.claim_drain_step(name, room_id, conf.SFU_DRAIN_STEP):
                return
            moved = await self.placement.place(room_id, self.capacities, avoid=name)
            if moved is None:
                logger.warning("Draining SFU node %s: no other node can take room %s now", name, room_id)
            else:
                logger.info("Draining SFU node %s: room %s moves to %s", name, room_id, moved)
            return


_services: dict[asyncio.AbstractEventLoop, SfuService] = {}


def _handed_on(handoff: str) -> dict[str, object] | None:
    """A handoff of ``SfuMember.handoff()``; None for none (or, defensively, for one that does not read)."""
    if not handoff:
        return None
    try:
        taken = json.loads(handoff)
    except ValueError:
        return None
    if not isinstance(taken, dict) or not all(isinstance(taken.get(key), int) for key in ("session", "publisher")):
        return None
    return taken


def sfu_capacity(stored: int | None) -> int:
    """How many peers an SFU room admits: its stored capacity, else ``SFU_MAX_PEERS``, and never more than that."""
    return min(stored or conf.SFU_MAX_PEERS, conf.SFU_MAX_PEERS)


def get_sfu() -> SfuService | None:
    """The SFU of the running event loop; None when none is configured."""
    nodes, secret, key = configured_nodes(), conf.SFU_API_SECRET, conf.SFU_ADMIN_KEY
    if not nodes or secret is None or key is None:
        return None
    loop = asyncio.get_running_loop()
    service = _services.get(loop)
    if service is None:
        service = _services[loop] = SfuService(nodes, secret, key)
    return service


@receiver(setting_changed)
def _reset(*, setting: str, **kwargs: object) -> None:
    if setting == "SIGNALING":
        _services.clear()
