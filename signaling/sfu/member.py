"""One peer of an SFU room, in Janus: what the consumer drives for a socket whose room's media goes through the SFU.

A member has a Janus session of its own with two handles: its publisher (joined to the room at once, under our
peer id, publishing once the client sends its offer) and its subscriber (one connection carrying every other
publisher's streams, Janus's multistream). Janus tells the publisher handle when publishers come and go; the member
then changes its subscription, and Janus makes a new offer, which goes to the client (``sfu-subscription``) with
which peer each stream (``mid``) is. One change at a time: the next waits until the client answered the last.

A member outlives its socket. When the socket drops or its worker drains, the member *lets go* of its Janus session
(no keepalives, no events taken here) and hands on what another connection needs to take it over (``handoff()``,
kept with the parked peer by the registry); the resume, on any worker, *takes over* (``take_over()``): it claims the
session on its own worker's connection to Janus, and the media, which never went through the workers, goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from signaling.protocol import SFU_QUALITIES, SfuStream, SfuSubscriptionFrame, encode
from signaling.sfu.janus import (
    REQUEST_TIMEOUT,
    JanusConnection,
    JanusError,
    JanusHandle,
    JanusReply,
    JanusSession,
    JanusUnavailable,
)
from signaling.sfu.janus_events import handle_label
from signaling.sfu.nodes import DEFAULT_NODE
from signaling.sfu.videoroom import JanusRoom, publisher_join, subscriber_join
from signaling.timeouts import within

logger = logging.getLogger(__name__)

#: Seconds a client has to answer a subscription offer before the member gives up on that change.
ANSWER_TIMEOUT = 15.0
#: Seconds Janus has to hang up a published connection before a fresh one is offered on its handle anyway.
HANGUP_TIMEOUT = 5.0
#: The simulcast layer (Janus's substream: 0 the smallest) of each quality a client may ask for (``sfu-quality``).
SUBSTREAMS = {"high": 2, "medium": 1, "low": 0}


class SfuMember:
    """A peer's place in a Janus room; ``send`` writes a frame to the peer's socket."""

    def __init__(
        self,
        connection: JanusConnection,
        room: JanusRoom,
        peer_id: str,
        send: Callable[[str], Awaitable[None]],
        on_lost: Callable[[], Awaitable[None]] | None = None,
        node: str = DEFAULT_NODE,
        publishers: int = 0,
    ) -> None:
        self.connection = connection
        self.room = room
        self.peer_id = peer_id
        #: The Janus node (``SIGNALING["SFU_NODES"]``) the member is on.
        self.node = node
        #: The publishers the Janus room was made for (a move makes the room on its new node alike).
        self.publishers = publishers
        #: Set once the member is in Janus (joined, or taken over): its frames wait for it (a member made for a move
        #: is the socket's before it has joined).
        self.ready = asyncio.Event()
        self._send = send
        #: Called once when the member's session is lost (``lose()``): the connection to its node went, the node
        #: stopped answering, or the room moved to another node.
        self._on_lost = on_lost
        self.lost = False
        self._lost_task: asyncio.Future[None] | None = None
        self.session: JanusSession | None = None
        self.publisher: JanusHandle | None = None
        self.subscriber: JanusHandle | None = None
        #: The feeds (publishers' peer ids) the subscriber carries, and the client's answer being waited for.
        self.feeds: set[str] = set()
        self._answer: asyncio.Future[Mapping[str, Any]] | None = None
        #: The streams of the last subscription offer (an ICE restart's offer may not list them again).
        self.streams: list[SfuStream] = []
        #: Changes of the subscription, applied one at a time: ("subscribe" | "unsubscribe", feeds, None),
        #: ("offer", [], reply) for an offer Janus made by itself (a publisher's streams went away), ("answer", [],
        #: None) for the answer to an offer made before a take-over, or ("restart", [], None) for an ICE restart.
        self._changes: asyncio.Queue[tuple[str, list[str], JanusReply | None]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        #: The restart of the subscriber that is queued (one at most: the client's next asks are that one): "ice"
        #: (Janus restarts ICE on it) or "fresh" (a new connection: a new handle), or None.
        self._restart: str | None = None
        #: Set by Janus's hang-up of the publisher's connection, while a fresh one waits for it (publish(fresh=True)).
        self._hung_up: asyncio.Future[None] | None = None
        #: The quality the client wants of each subscribed peer's video (``sfu-quality``; bounded by the feeds), and
        #: what Janus was told for each (mid, peer) of the subscription; a change is queued once at most.
        self.qualities: dict[str, str] = {}
        self._applied: dict[tuple[str, str], str] = {}
        self._quality_queued = False

    async def join(self, display: str = "") -> list[str]:
        """Join the Janus room as a publisher; the peer ids of those publishing there already (subscribed next)."""
        self.session = await self.connection.create_session()
        self.session.keep_alive()
        self.publisher = await self.session.attach(
            on_event=self._on_publisher_event, opaque_id=handle_label(self.room.room_id, self.peer_id, "publisher")
        )
        reply = await self.publisher.message(publisher_join(self.room, self.peer_id, display), asynchronous=True)
        self._worker = asyncio.ensure_future(self._apply_changes())
        self.ready.set()
        present = publishers_of(reply.plugin)
        if present:
            self._changes.put_nowait(("subscribe", present, None))
        return present

    async def take_over(self, handoff: Mapping[str, Any], present: list[str]) -> None:
        """Claim the Janus session another connection let go of (``handoff()``), with its handles and subscription;
        ``present``: who publishes in the room now (what changed meanwhile is caught up on). Raises ``JanusError``
        when Janus has no such session any more."""
        session_id, publisher_id = int(handoff["session"]), int(handoff["publisher"])
        self.session = await self.connection.claim_session(session_id)
        self.session.keep_alive()
        self.publisher = self.session.handle(publisher_id, self._on_publisher_event)
        if handoff.get("subscriber") is not None:
            self.subscriber = self.session.handle(int(handoff["subscriber"]), self._on_subscriber_event)
            self.feeds = {str(feed) for feed in handoff.get("feeds", [])}
            self.streams = [
                {"mid": str(stream["mid"]), "peerId": str(stream["peerId"]), "kind": str(stream.get("kind", ""))}
                for stream in handoff.get("streams", [])
                if isinstance(stream, Mapping) and "mid" in stream and "peerId" in stream
            ]
            qualities = handoff.get("qualities")
            if isinstance(qualities, Mapping):
                self.qualities = {
                    str(peer): str(quality)
                    for peer, quality in qualities.items()
                    if peer in self.feeds and quality in SFU_QUALITIES
                }
            for entry in handoff.get("applied", []):
                if isinstance(entry, list) and len(entry) == 3 and all(isinstance(part, str) for part in entry):
                    self._applied[(entry[0], entry[1])] = entry[2]
        self._worker = asyncio.ensure_future(self._apply_changes())
        self.ready.set()
        if handoff.get("answering") and self.subscriber is not None:
            # The client had an offer of ours to answer when its socket went: its answer comes here.
            self._answer = asyncio.get_running_loop().create_future()
            self._changes.put_nowait(("answer", [], None))
        # Janus's events of the meanwhile went to nobody: who came and went is taken from the room as it is now.
        self._changes.put_nowait(("subscribe", [feed for feed in present if feed not in self.feeds], None))
        self._changes.put_nowait(("unsubscribe", [feed for feed in self.feeds if feed not in present], None))

    def handoff(self) -> str:
        """What a connection needs to take this member over (``take_over()``): its session and handles, and what
        its subscription carries; '' when there is nothing to hand on (the member is still joining, after a move, or
        its node is gone): the resume then joins anew."""
        if self.session is None or self.publisher is None or self.lost:
            return ""
        waiting = self._answer is not None and not self._answer.done()
        return json.dumps(
            {
                "node": self.node,
                "session": self.session.session_id,
                "publisher": self.publisher.handle_id,
                "subscriber": self.subscriber.handle_id if self.subscriber is not None else None,
                "feeds": sorted(self.feeds),
                "streams": self.streams,
                "answering": waiting,
                "qualities": self.qualities,
                "applied": [[mid, peer, quality] for (mid, peer), quality in self._applied.items()],
            }
        )

    async def let_go(self) -> None:
        """Stop serving the Janus session without ending it: another connection takes it over (or Janus ends it
        after its timeout, when nobody does)."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        session, self.session = self.session, None
        if session is not None:
            session.stop_keepalive()
        for handle in (self.publisher, self.subscriber):
            if handle is not None:
                self.connection.unregister(handle.handle_id)

    async def publish(self, offer: Mapping[str, Any], fresh: bool = False) -> Mapping[str, Any]:
        """Publish the client's media: its offer in, Janus's answer out. ``fresh``: the offer is of a new connection,
        which replaces the published one (the others' subscriptions lose this peer's streams for a moment)."""
        await self._joined()
        assert self.publisher is not None
        if fresh:
            await self._unpublish()
        reply = await self.publisher.message(
            {"request": "configure", "audio": True, "video": True}, offer, asynchronous=True
        )
        if reply.jsep is None:
            raise JanusError(0, "Janus answered the publisher's offer without a description")
        return reply.jsep

    async def _unpublish(self) -> None:
        """Drop the published connection, and wait until Janus has hung it up: it refuses a new connection's offer
        on the handle while it still cleans up the last one."""
        assert self.publisher is not None
        self._hung_up = asyncio.get_running_loop().create_future()
        try:
            await self.publisher.message({"request": "unpublish"}, asynchronous=True)
            # Janus acknowledges first and hangs up after: its "hangup" event on this handle settles the future.
            with contextlib.suppress(TimeoutError):
                await within(self._hung_up, HANGUP_TIMEOUT)
        except JanusError as error:
            logger.info("Unpublishing %s before a fresh connection: %s", self.peer_id, error)  # nothing published
        finally:
            self._hung_up = None

    def answered(self, answer: Mapping[str, Any]) -> bool:
        """The client's answer to the last subscription offer; False when none was waiting for one."""
        if self._answer is None or self._answer.done():
            return False
        self._answer.set_result(answer)
        return True

    def restart(self, fresh: bool = False) -> None:
        """A restart of the subscriber (the client relays and has fresh TURN credentials): Janus makes a fresh
        offer, with new ICE credentials, which goes to the client like any other; ``fresh``: an offer for a new
        connection (a new handle, with the same feeds). Asks that come while one is queued are that one (a fresh
        one if any was)."""
        queued = self._restart is not None
        self._restart = "fresh" if fresh or self._restart == "fresh" else "ice"
        if not queued:
            self._changes.put_nowait(("restart", [], None))

    async def _joined(self) -> None:
        """Wait until the member is in Janus (a frame of the client's can come before a moved member has joined)."""
        if self.ready.is_set():
            return
        # Within the time of one request: join (or take over) is one, and its failure ends the member's socket.
        await within(self.ready.wait(), REQUEST_TIMEOUT)

    def want_quality(self, peer_id: str, quality: str) -> None:
        """The client's choice of ``peer_id``'s video (``sfu-quality``): a simulcast layer, or ``off``. Applied in
        turn with the subscription's changes, and again to any new subscription. A peer not subscribed (gone a
        moment ago, or never there) is ignored: what is kept is bounded by the room."""
        if peer_id not in self.feeds:
            return
        self.qualities[peer_id] = quality
        if not self._quality_queued:
            self._quality_queued = True
            self._changes.put_nowait(("quality", [], None))

    async def _apply_qualities(self) -> None:
        """Tell Janus, for each video stream of the subscription whose quality changed, the layer to relay (or to
        relay nothing): one ``configure`` for them all."""
        self._quality_queued = False
        if self.subscriber is None:
            return
        wanted: dict[tuple[str, str], str] = {}
        streams: list[dict[str, Any]] = []
        for stream in self.streams:
            key = (stream["mid"], stream["peerId"])
            quality = self.qualities.get(stream["peerId"])
            if stream["kind"] != "video" or quality is None or self._applied.get(key) == quality:
                continue
            entry: dict[str, Any] = {"mid": stream["mid"], "send": quality != "off"}
            if quality in SUBSTREAMS:
                entry["substream"] = SUBSTREAMS[quality]
            streams.append(entry)
            wanted[key] = quality
        if not streams:
            return
        reply = await self.subscriber.message({"request": "configure", "streams": streams}, asynchronous=True)
        self._applied.update(wanted)
        if reply.jsep is not None:
            await self._offer(reply)

    async def trickle(self, target: str, candidate: Mapping[str, Any] | None) -> None:
        await self._joined()
        handle = self.publisher if target == "publisher" else self.subscriber
        if handle is not None:
            await handle.trickle(candidate)

    async def leave(self) -> None:
        """Leave Janus: the session goes, with its handles and their connections (Janus tells the others)."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        if self.session is not None:
            await self.session.destroy()
            self.session = None

    def silence(self) -> None:
        """Another member serves the socket now (the room moved to another node): nothing of this one reaches the
        client any more (its subscription's changes on the old node would be taken for the new one's), and it
        stops following the old room."""
        self._send = _nowhere
        if self._worker is not None:
            self._worker.cancel()

    @property
    def serving(self) -> bool:
        """Whether the member is in Janus for its socket now: joined (or taken over), not lost, not left or let go."""
        return self.ready.is_set() and self.session is not None and not self.lost

    def lose(self) -> None:
        """The member's session is lost to it (its node's connection went, the node stopped answering, or the room
        moved to another node): ``on_lost`` is called, once."""
        if self.lost:
            return
        self.lost = True
        if self._on_lost is not None:
            self._lost_task = asyncio.ensure_future(self._on_lost())

    # -- Janus's events and the subscription -----------------------------------------------------------------

    def _on_publisher_event(self, reply: JanusReply) -> None:
        if reply.kind == "hangup":
            if self._hung_up is not None and not self._hung_up.done():
                self._hung_up.set_result(None)
            return
        if reply.kind in ("disconnected", "timeout"):
            self.lose()
            return
        joined = publishers_of(reply.plugin)
        if joined:
            self._changes.put_nowait(("subscribe", joined, None))
        gone = reply.plugin.get("unpublished", reply.plugin.get("leaving"))
        if isinstance(gone, str) and gone != "ok" and gone in self.feeds:
            self._changes.put_nowait(("unsubscribe", [gone], None))

    def _on_subscriber_event(self, reply: JanusReply) -> None:
        # Janus renegotiates by itself when streams of the subscription go away (their publisher left).
        if reply.jsep is not None and reply.jsep.get("type") == "offer":
            self._changes.put_nowait(("offer", [], reply))

    async def _apply_changes(self) -> None:
        while True:
            change, feeds, offer = await self._changes.get()
            try:
                if offer is not None:
                    await self._offer(offer)
                elif change == "answer":
                    await self._started()
                elif change == "restart":
                    await self._restart_subscriber()
                elif change == "quality":
                    await self._apply_qualities()
                else:
                    await self._change(change, feeds)
            except (JanusError, JanusUnavailable, TimeoutError) as error:
                logger.warning("SFU subscription change %s %s for %s failed: %s", change, feeds, self.peer_id, error)

    async def _change(self, change: str, feeds: list[str]) -> None:
        feeds = [feed for feed in feeds if feed != self.peer_id and (feed in self.feeds) == (change == "unsubscribe")]
        if not feeds:
            return
        assert self.session is not None
        fresh = self.subscriber is None
        if self.subscriber is None:
            self.subscriber = await self.session.attach(
                on_event=self._on_subscriber_event,
                opaque_id=handle_label(self.room.room_id, self.peer_id, "subscriber"),
            )
            reply = await self.subscriber.message(subscriber_join(self.room, feeds), asynchronous=True)
        else:
            body = {"request": change, "streams": [{"feed": feed} for feed in feeds]}
            reply = await self.subscriber.message(body, asynchronous=True)
        if fresh:
            self._applied.clear()  # a new handle: Janus relays every layer again until told otherwise
        if change == "subscribe":
            self.feeds.update(feeds)
        else:
            self.feeds.difference_update(feeds)
            for feed in feeds:
                self.qualities.pop(feed, None)
        if reply.jsep is not None:
            await self._offer(reply, fresh=fresh)

    async def _restart_subscriber(self) -> None:
        kind, self._restart = self._restart, None
        if self.subscriber is None:
            return  # nothing is subscribed yet: the first offer has fresh credentials
        if kind == "fresh":
            # A new handle (Janus hangs up the old one's connection), subscribed to the same feeds: its offer is
            # for the client's new connection.
            old, self.subscriber = self.subscriber, None
            feeds, self.feeds = sorted(self.feeds), set()
            await old.detach()
            await self._change("subscribe", feeds)
            return
        reply = await self.subscriber.message({"request": "configure", "restart": True}, asynchronous=True)
        if reply.jsep is not None:
            await self._offer(reply)

    async def _offer(self, reply: JanusReply, fresh: bool = False) -> None:
        """Hand the client Janus's offer for the subscriber, wait for its answer, and start with it; ``fresh``: the
        offer of a new handle, for a new connection."""
        assert reply.jsep is not None
        assert self.subscriber is not None
        if "streams" in reply.plugin:
            self.streams = streams_of(reply.plugin)
            current = {(stream["mid"], stream["peerId"]) for stream in self.streams}
            self._applied = {key: quality for key, quality in self._applied.items() if key in current}
            self.feeds = {stream["peerId"] for stream in self.streams}
        self._answer = asyncio.get_running_loop().create_future()
        frame: SfuSubscriptionFrame = {
            "t": "sfu-subscription",
            "description": dict(reply.jsep),
            "streams": self.streams,
        }
        if fresh:
            frame["fresh"] = True
        await self._send(encode(frame))
        await self._started()

    async def _started(self) -> None:
        """The client's answer to the offer it has, and Janus's start with it."""
        assert self._answer is not None
        assert self.subscriber is not None
        # The client answers with `sfu-subscribed`, which the consumer hands to answered(); Janus starts with it.
        answer = await within(self._answer, ANSWER_TIMEOUT)
        await self.subscriber.message({"request": "start"}, answer, asynchronous=True)
        # The streams of this subscription get the layers the client chose (a new handle, or new mids).
        await self._apply_qualities()


async def _nowhere(frame: str) -> None:
    """Where a silenced member's frames go."""


def publishers_of(plugin: Mapping[str, Any]) -> list[str]:
    """The peer ids of the publishers a VideoRoom reply or event lists (``publishers``)."""
    found = plugin.get("publishers")
    if not isinstance(found, list):
        return []
    return [str(entry["id"]) for entry in found if isinstance(entry, Mapping) and "id" in entry]


def streams_of(plugin: Mapping[str, Any]) -> list[SfuStream]:
    """What a subscriber's offer carries, per ``mid``: the peer (our peer id) and the kind, for the client."""
    found = plugin.get("streams")
    streams: list[SfuStream] = []
    for stream in found if isinstance(found, list) else []:
        if isinstance(stream, Mapping) and stream.get("active", True) and "feed_id" in stream:
            streams.append(
                {"mid": str(stream.get("mid")), "peerId": str(stream["feed_id"]), "kind": str(stream.get("type", ""))}
            )
    return streams
