"""The Python peer's media in an SFU room (docs/protocol.md, "SFU rooms"), as the browser client's ``sfu.js``: a
publishing connection with our sources, and a subscribing one that carries every other publisher's streams, each
``mid`` named by the peer it is of (``sfu-subscription``). The SFU's candidates are in its descriptions; ours go in
``sfu-ice`` (aiortc gathers before it describes, so its descriptions hold them already)."""

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
from signaling.peer.link import ice_configuration
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
        self.publisher = RTCPeerConnection(ice_configuration(ice_servers, ice_transport_policy))
        self.subscriber = RTCPeerConnection(ice_configuration(ice_servers, ice_transport_policy))
        self.closed = False
        #: The peer each mid of the subscriber carries.
        self.peer_of_mid: dict[str, str] = {}
        self.feeds: list[TrackFeed] = []
        self._sources = list(sources)
        # Subscription offers are answered one at a time, in arrival order.
        self._incoming: asyncio.Lock = asyncio.Lock()
        self.subscriber.on("track", self._on_track)
        for pc in (self.publisher, self.subscriber):
            pc.on("connectionstatechange", lambda: self.events.on_state())

    @property
    def is_connected(self) -> bool:
        return "connected" in (self.publisher.connectionState, self.subscriber.connectionState)

    async def publish(self) -> None:
        """Offer our sources to the SFU (one sending transceiver of each kind we have); its answer comes as
        ``sfu-published``."""
        for source in self._sources:
            self.publisher.addTransceiver(source.sender_track(), direction="sendonly")
        if not self._sources:
            return  # nothing to publish: a receive-only peer (a recorder) only subscribes
        await self.publisher.setLocalDescription(await self.publisher.createOffer())
        offer = self.publisher.localDescription
        self.events.signal({"t": "sfu-publish", "description": {"type": offer.type, "sdp": offer.sdp}})

    async def handle_published(self, description: dict[str, Any]) -> None:
        if self.closed:
            return
        try:
            await self.publisher.setRemoteDescription(RTCSessionDescription(description["sdp"], description["type"]))
        except Exception as error:  # an answer aiortc cannot take: the call goes on without our media
            self.events.on_error(WebRTCCallError("sfu-failed", f"The SFU's answer could not be used: {error}"))

    async def handle_subscription(self, description: dict[str, Any], streams: list[dict[str, Any]]) -> None:
        async with self._incoming:
            if self.closed:
                return
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
            self.events.signal({"t": "sfu-subscribed", "description": {"type": answer.type, "sdp": answer.sdp}})

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
