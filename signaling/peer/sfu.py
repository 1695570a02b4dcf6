"""The Python peer's media in an SFU room (docs/protocol.md, "SFU rooms"), as the browser client's ``sfu.js``: a
publishing connection with our sources, and a subscribing one that carries every other publisher's streams, each
``mid`` named by the peer it is of (``sfu-subscription``). The SFU's candidates are in its descriptions; ours go in
``sfu-ice`` (aiortc gathers before it describes, so its descriptions hold them already).

Fresh TURN credentials (``ice-servers``) move each connection whose path relays through an allocation of ours onto
a new connection made with them, since aiortc cannot restart ICE on a live one: the publisher offers anew
(``sfu-publish`` with ``fresh``, the SFU drops the old one), and the subscriber asks for an offer of a new connection
(``sfu-restart`` with ``fresh``), which it answers on a new one when it comes (``sfu-subscription`` with
``fresh``). A direct path is left alone."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiortc import RTCPeerConnection, RTCSessionDescription

from signaling.peer.errors import WebRTCCallError
from signaling.peer.link import ice_configuration, relays_locally
from signaling.peer.media import SharedSource, TrackFeed

logger = logging.getLogger(__name__)


@dataclass
class SfuEvents:
    signal: Callable[[dict[str, Any]], None]
    on_track: Callable[[str, TrackFeed], None]
    on_state: Callable[[], None]
    on_error: Callable[[WebRTCCallError], None]


class SfuSession:
    """An SFU room's two connections with the SFU."""

    def __init__(
        self,
        ice_servers: list[dict[str, Any]],
        ice_transport_policy: str,
        sources: Sequence[SharedSource],
        max_buffered: int,
        events: SfuEvents,
    ) -> None:
        self.events = events
        self.max_buffered = max_buffered
        self.ice_servers = ice_servers
        self.ice_transport_policy = ice_transport_policy
        self.publisher = self._connection()
        self.subscriber = self._connection()
        self.subscriber.on("track", self._on_track)
        self.closed = False
        #: The peer each mid of the subscriber carries.
        self.peer_of_mid: dict[str, str] = {}
        self.feeds: list[TrackFeed] = []
        self._sources = list(sources)
        # Subscription offers are answered one at a time, in arrival order; moves onto fresh credentials go one
        # at a time too.
        self._incoming: asyncio.Lock = asyncio.Lock()
        self._moving: asyncio.Lock = asyncio.Lock()
        self._tasks: set[asyncio.Future[None]] = set()

    def _connection(self) -> RTCPeerConnection:
        pc = RTCPeerConnection(ice_configuration(self.ice_servers, self.ice_transport_policy))
        pc.on("connectionstatechange", lambda: self.events.on_state())
        return pc

    @property
    def is_connected(self) -> bool:
        return "connected" in (self.publisher.connectionState, self.subscriber.connectionState)

    async def publish(self, fresh: bool = False) -> None:
        """Offer our sources to the SFU (one sending transceiver of each kind we have); its answer comes as
        ``sfu-published``. ``fresh``: the publisher is a new connection, which replaces the published one."""
        for source in self._sources:
            self.publisher.addTransceiver(source.sender_track(), direction="sendonly")
        if not self._sources:
            return  # nothing to publish: a receive-only peer (a recorder) only subscribes
        await self.publisher.setLocalDescription(await self.publisher.createOffer())
        offer = self.publisher.localDescription
        frame: dict[str, Any] = {"t": "sfu-publish", "description": {"type": offer.type, "sdp": offer.sdp}}
        if fresh:
            frame["fresh"] = True
        self._send(frame)

    def _send(self, frame: dict[str, Any]) -> None:
        """A frame to the server, from this session only while it is open: work of a closed session that was under
        way (an answer being made when the room moved to another SFU node) must not reach the new one's member."""
        if not self.closed:
            self.events.signal(frame)

    def use_ice_servers(self, ice_servers: list[dict[str, Any]]) -> None:
        """New ICE servers (fresh TURN credentials): each connection that relays through an allocation of ours
        moves to a new one made with them (the TURN server refuses the old allocation's refreshes once its
        credentials expire)."""
        self.ice_servers = ice_servers
        task = asyncio.ensure_future(self._move_relayed_connections())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _move_relayed_connections(self) -> None:
        async with self._moving:
            if self.closed:
                return
            if self._sources and self.publisher.connectionState == "connected" and relays_locally(self.publisher):
                old, self.publisher = self.publisher, self._connection()
                await self.publish(fresh=True)
                await old.close()  # the SFU drops it before it takes the new one
            if self.subscriber.connectionState == "connected" and relays_locally(self.subscriber):
                # The SFU's offer for a new connection comes as an sfu-subscription with `fresh`.
                self._send({"t": "sfu-restart", "fresh": True})

    async def handle_published(self, description: dict[str, Any]) -> None:
        if self.closed:
            return
        try:
            await self.publisher.setRemoteDescription(RTCSessionDescription(description["sdp"], description["type"]))
        except Exception as error:  # an answer aiortc cannot take: the call goes on without our media
            self.events.on_error(WebRTCCallError("sfu-failed", f"The SFU's answer could not be used: {error}"))

    async def handle_subscription(
        self, description: dict[str, Any], streams: list[dict[str, Any]], fresh: bool = False
    ) -> None:
        """The SFU's offer of the others' streams; ``fresh``: for a new connection (the SFU dropped the last)."""
        async with self._incoming:
            if self.closed:
                return
            if fresh and self.subscriber.remoteDescription is not None:
                await self._replace_subscriber()
            self.peer_of_mid = {
                str(stream["mid"]): str(stream["peerId"])
                for stream in streams
                if isinstance(stream, dict) and "mid" in stream and "peerId" in stream
            }
            try:
                offer = RTCSessionDescription(description["sdp"], description["type"])
                await self.subscriber.setRemoteDescription(offer)
                bundle_every_transceiver(self.subscriber)
                await self.subscriber.setLocalDescription(await self.subscriber.createAnswer())
            except Exception as error:
                self.events.on_error(WebRTCCallError("sfu-failed", f"The SFU's offer could not be used: {error}"))
                return
            answer = self.subscriber.localDescription
            self._send({"t": "sfu-subscribed", "description": {"type": answer.type, "sdp": answer.sdp}})

    async def _replace_subscriber(self) -> None:
        old, self.subscriber = self.subscriber, self._connection()
        self.subscriber.on("track", self._on_track)
        # The streams of the old connection end; the new one's come as new tracks of the same peers.
        for feed in self.feeds:
            feed.stop()
        self.feeds = []
        with contextlib.suppress(Exception):
            await old.close()

    def _on_track(self, track: Any) -> None:
        transceiver = next((t for t in self.subscriber.getTransceivers() if t.receiver.track is track), None)
        peer_id = self.peer_of_mid.get(str(transceiver.mid)) if transceiver is not None else None
        if peer_id is None or self.closed:
            return
        feed = TrackFeed(track, peer_id, self.max_buffered, transceiver.receiver if transceiver else None)
        self.feeds.append(feed)
        self.events.on_track(peer_id, feed)

    def close(self) -> asyncio.Future[None]:
        self.closed = True
        for task in self._tasks:
            task.cancel()
        for feed in self.feeds:
            feed.stop()

        async def close_both() -> None:
            for pc in (self.publisher, self.subscriber):
                with contextlib.suppress(Exception):
                    await pc.close()

        return asyncio.ensure_future(close_both())


def bundle_every_transceiver(pc: RTCPeerConnection) -> None:
    """Put every transceiver of ``pc`` on the transport of its first one. The SFU bundles all its streams on one
    transport, and aiortc (1.x) leaves some transceivers of a bundled offer on transports of their own when it
    reuses them (an offer that adds streams of a kind after others of that kind): they never start receiving, and
    their packets go to the first receiver of their payload type instead (each peer's audio in one track)."""
    transceivers = pc.getTransceivers()
    if not transceivers:
        return
    primary = transceivers[0].receiver.transport
    for transceiver in transceivers[1:]:
        if transceiver.receiver.transport is not primary:
            transceiver.receiver.setTransport(primary)
            transceiver.sender.setTransport(primary)


def data_frame(label: str, data: str | bytes, to: str | None) -> dict[str, Any]:
    """A data-channel message as a ``data`` frame: text as it is, bytes in base64."""
    frame: dict[str, Any] = {"t": "data", "label": label}
    if to is not None:
        frame["to"] = to
    if isinstance(data, str):
        frame["text"] = data
    else:
        frame["binary"] = base64.b64encode(data).decode("ascii")
    return frame


def data_of(frame: dict[str, Any]) -> str | bytes | None:
    """What a ``data`` frame carries, as a data channel hands it over: the string, or the bytes."""
    if isinstance(frame.get("text"), str):
        return str(frame["text"])
    if isinstance(frame.get("binary"), str):
        try:
            return base64.b64decode(frame["binary"], validate=True)
        except ValueError:
            return None
    return None
