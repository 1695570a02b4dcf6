"""One remote peer of a Python peer's mesh call: its aiortc ``RTCPeerConnection``, negotiated with the browser
clients' "perfect negotiation" rule, its data channels and its remote tracks.

Where aiortc differs from a browser:

- it gathers its ICE candidates before ``setLocalDescription`` returns and puts them in the SDP, so it sends no
  ``ice`` messages of its own (it applies the browser's trickled ones);
- it cannot roll back a local offer: when this side is the polite one of a pair and both offered at once, the
  connection is replaced by a fresh one that answers the other side's offer (the other side ignored ours);
- it has no ``negotiationneeded`` event: this side offers when it starts a link it initiates, answers every
  offer, and offers again (one offer at a time, each waiting for its answer) when it has tracks to add;
- its later offers would renumber the codecs and header extensions already agreed: ``reoffer`` keeps them;
- it cannot restart ICE on a live connection: a restart (ours or the other side's) moves the peer to a fresh
  connection, with new ICE credentials and a new DTLS transport, which browsers take as an ICE restart; so does
  a relayed path when fresh TURN credentials come (a TURN allocation keeps the credentials it was made with).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiortc import (
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCIceTransportPolicy,
    RTCPeerConnection,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamTrack
from aiortc.sdp import candidate_from_sdp

from signaling.peer.errors import WebRTCCallError
from signaling.peer.media import SharedSource, TrackFeed
from signaling.peer.reoffer import adopt_offer, create_offer


def sender_track(transceiver: RTCRtpTransceiver) -> MediaStreamTrack | None:
    """The track a transceiver sends (aiortc types it as always set; a transceiver of a remote offer has none)."""
    track: MediaStreamTrack | None = transceiver.sender.track
    return track


logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataChannelConfig:
    """A data channel every peer connection of the call opens (``RTCDataChannelInit`` in the browser)."""

    label: str
    ordered: bool = True
    max_retransmits: int | None = None
    max_packet_life_time: int | None = None
    protocol: str = ""


@dataclass
class LinkEvents:
    signal: Callable[[dict[str, Any]], None]
    on_track: Callable[[TrackFeed], None]
    on_channel_open: Callable[[str], None]
    on_channel_close: Callable[[str], None]
    on_channel_message: Callable[[str, str | bytes], None]
    on_state: Callable[[str], None]
    on_error: Callable[[WebRTCCallError], None]


#: ICE restarts in a row that may fail before the link gives up and reports ``ice-failed`` (as the browser client).
MAX_ICE_RESTARTS = 3
#: Seconds a ``disconnected`` connection may take to come back by itself before ICE is restarted.
DISCONNECTED_GRACE = 4.0


def ice_configuration(ice_servers: list[dict[str, Any]], transport_policy: str = "all") -> RTCConfiguration:
    """aiortc's configuration from RTCIceServer dicts; an empty list means no STUN or TURN at all (aiortc's own
    default would be a public STUN server). ``transport_policy`` is the browser's ``iceTransportPolicy``:
    ``"relay"`` gathers TURN relay candidates only."""
    servers = []
    for server in ice_servers:
        urls = server.get("urls")
        if not urls:
            continue
        servers.append(RTCIceServer(urls=urls, username=server.get("username"), credential=server.get("credential")))
    return RTCConfiguration(iceServers=servers, iceTransportPolicy=RTCIceTransportPolicy(transport_policy))


def relays_locally(pc: RTCPeerConnection) -> bool:
    """Whether ``pc``'s path goes through a TURN allocation of ours: the pair aioice nominated has a relay
    candidate on our side. aiortc's stats report no candidate pairs, so this reads its ICE transports' aioice
    connections (``RTCIceGatherer._connection``, aioice's ``Connection._nominated``: neither is public)."""
    transports = {transceiver.receiver.transport for transceiver in pc.getTransceivers()}
    if pc.sctp is not None:
        transports.add(pc.sctp.transport)
    for dtls in transports:
        connection = getattr(dtls.transport.iceGatherer, "_connection", None)
        nominated: dict[int, Any] = getattr(connection, "_nominated", {})
        if any(pair.local_candidate.type == "relay" for pair in nominated.values()):
            return True
    return False


def prefer_codecs(transceiver: RTCRtpTransceiver, names: tuple[str, ...]) -> None:
    """Keep only these codecs (and their retransmission) on a transceiver, in this order."""
    capabilities = RTCRtpSender.getCapabilities(transceiver.kind)
    chosen = [codec for name in names for codec in capabilities.codecs if codec.name.lower() == name.lower()]
    chosen += [codec for codec in capabilities.codecs if codec.name.lower() == "rtx"]
    if chosen:
        transceiver.setCodecPreferences(chosen)


def ice_ufrags(sdp: str) -> set[str]:
    return {line.split(":", 1)[1].strip() for line in sdp.splitlines() if line.startswith("a=ice-ufrag:")}


_SDP_LINE = re.compile(r"[a-z]=.*")


def check_sdp(sdp: str) -> None:
    """Refuse what is not a session description (RFC 8866: ``<type>=<value>`` lines, ``v=0`` first, an origin and
    at least one media section), as a browser does; aiortc's own parser would take almost anything."""
    lines = [line for line in sdp.replace("\r\n", "\n").split("\n") if line]
    if not lines or lines[0] != "v=0":
        raise ValueError("not a session description (no v=0 line first)")
    bad = next((line for line in lines if not _SDP_LINE.fullmatch(line)), None)
    if bad is not None:
        raise ValueError(f"not a session description line: {bad[:80]!r}")
    if not any(line.startswith("o=") for line in lines) or not any(line.startswith("m=") for line in lines):
        raise ValueError("a session description without an origin or without media")


class PeerLink:
    def __init__(
        self,
        remote_id: str,
        *,
        polite: bool,
        initiator: bool,
        ice_servers: list[dict[str, Any]],
        sources: list[SharedSource],
        channels: Callable[[], list[DataChannelConfig]],
        max_buffered: int,
        connection_timeout: float,
        events: LinkEvents,
        video_codecs: tuple[str, ...] = (),
        ice_transport_policy: str = "all",
    ) -> None:
        self.video_codecs = video_codecs
        self.remote_id = remote_id
        self.polite = polite
        self.initiator = initiator
        self.ice_servers = ice_servers
        self.ice_transport_policy = ice_transport_policy
        self.sources = sources
        self.channel_configs = channels
        self.max_buffered = max_buffered
        self.connection_timeout = connection_timeout
        self.events = events
        self.channels: dict[str, RTCDataChannel] = {}
        self.feeds: list[TrackFeed] = []
        self.closed = False
        self.making_offer = False
        self.ignore_offer = False
        self._incoming: asyncio.Queue[Callable[[], Awaitable[None]]] = asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()
        self.ice_restarts = 0
        self._disconnected: asyncio.TimerHandle | None = None
        # Set while the current connection is connected: what waits for it awaits this, no polling.
        self._connected = asyncio.Event()
        self.pc = self._new_connection()
        self._spawn(self._apply_incoming())

    # --- Lifecycle --------------------------------------------------------------------------------------------

    def _new_connection(self) -> RTCPeerConnection:
        pc = RTCPeerConnection(ice_configuration(self.ice_servers, self.ice_transport_policy))
        # The servers (TURN credentials) this connection's allocations are made with.
        self._pc_servers = self.ice_servers
        self._connected.clear()
        self._sent: set[SharedSource] = set()
        self._own_sources: list[SharedSource] = getattr(self, "_own_sources", [])
        pc.on("track", lambda track: self._on_track(pc, track))
        pc.on("datachannel", lambda channel: self._adopt_channel(pc, channel))
        pc.on("connectionstatechange", lambda: self._on_state(pc))
        return pc

    async def start(self) -> None:
        """The initiator's first offer, with our tracks and channels (or asking to receive, having none)."""
        if not self.initiator:
            self._spawn(self._complete_channels())
            return
        self._add_tracks()
        for config in self.channel_configs():
            self._open_channel(config)
        # Whatever we do not send we still offer to receive, so the other side answers with its media at once.
        sending = {source.kind for source in self._sent}
        for kind in ("audio", "video"):
            if kind not in sending:
                self.pc.addTransceiver(kind, direction="recvonly")
        self._spawn(self._watch_connection())
        await self._offer()

    def close(self) -> asyncio.Future[None]:
        """Close the connection; the returned future is done once aiortc has stopped its transports and codec
        threads (await it before the event loop ends, or the process waits on those threads)."""
        if not self.closed:
            self.closed = True
            for task in self._tasks:
                task.cancel()
            if self._disconnected is not None:
                self._disconnected.cancel()
            for feed in self.feeds:
                feed.stop()
            for source in self._own_sources:
                source.stop()
            self._closing = asyncio.ensure_future(self.pc.close())
        return self._closing

    def _spawn(self, coroutine: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- Negotiation --------------------------------------------------------------------------------------------

    def _prefer_codecs(self) -> None:
        if self.video_codecs:
            for transceiver in self.pc.getTransceivers():
                if transceiver.kind == "video":
                    prefer_codecs(transceiver, self.video_codecs)

    async def _offer(self) -> None:
        if self.closed:
            return
        try:
            self.making_offer = True
            self._prefer_codecs()
            sdp = await create_offer(self.pc)
            await self.pc.setLocalDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            adopt_offer(self.pc, sdp)
            self._send_description()
        except Exception as error:
            self._fail("negotiation-failed", f"Could not create an offer for peer {self.remote_id}: {error}")
        finally:
            self.making_offer = False

    def _send_description(self) -> None:
        description = self.pc.localDescription
        if description is not None:
            self.events.signal(
                {"t": "sdp", "to": self.remote_id, "description": {"type": description.type, "sdp": description.sdp}}
            )

    def handle_description(self, description: dict[str, Any]) -> None:
        self._incoming.put_nowait(lambda: self._apply_description(description))

    def handle_candidate(self, candidate: dict[str, Any]) -> None:
        self._incoming.put_nowait(lambda: self._apply_candidate(candidate))

    async def _apply_incoming(self) -> None:
        # Remote descriptions and candidates are applied one at a time, in the order they arrived.
        while True:
            operation = await self._incoming.get()
            if self.closed:
                return
            try:
                await operation()
            except Exception as error:
                self._fail("negotiation-failed", f"Could not apply the description of peer {self.remote_id}: {error}")

    async def _apply_description(self, description: dict[str, Any]) -> None:
        kind, sdp = description.get("type"), description.get("sdp")
        if kind not in ("offer", "answer") or not isinstance(sdp, str):
            if kind == "rollback":
                return  # the other side undid an offer we never applied
            raise ValueError(f"unusable description type {kind!r}")
        check_sdp(sdp)
        if kind == "offer" and self.pc.signalingState == "closed":
            # aiortc closes a connection whose other end closed its DTLS transport: the other side moved to a fresh
            # connection (a restart, fresh TURN credentials), and this is its offer. A fresh one of ours answers.
            await self._replace_connection()
        collision = kind == "offer" and (self.making_offer or self.pc.signalingState != "stable")
        self.ignore_offer = collision and not self.polite
        if self.ignore_offer:
            return
        if collision:
            # Polite, and aiortc cannot roll back our offer: a fresh connection answers theirs (they ignored ours).
            await self._replace_connection()
        elif kind == "offer" and self._is_ice_restart(sdp):
            # The other side restarts ICE (its path failed): aiortc cannot on a live connection, so a fresh one
            # answers, with new ICE credentials and a new DTLS transport. The data channels' association is new
            # too: ours are opened on it at once (messages sent on the old one during the switch are lost).
            await self._replace_connection()
            for config in self.channel_configs():
                self._open_channel(config)
        if kind == "answer" and self.pc.signalingState != "have-local-offer":
            return  # an answer to an offer this connection no longer has
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type=kind))
        if kind == "answer":
            # Tracks that came while this offer waited for its answer go in the next one.
            await self._renegotiate()
            return
        self._attach_tracks_to_offer()
        self._prefer_codecs()
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        self._send_description()
        if self._unsent():
            # An answer cannot add media the offer had no line for: we offer it ourselves, once connected
            # (aiortc starts the senders of a renegotiation only over a DTLS transport that is up).
            self._spawn(self._renegotiate_when_connected())

    def send_track(self, source: SharedSource) -> None:
        """Send one more track to this peer only (an echo of its own, say): offered once connected, together with
        any other track added meanwhile."""
        self._own_sources.append(source)
        self._spawn(self._renegotiate_when_connected())

    def _unsent(self) -> list[SharedSource]:
        return [source for source in [*self.sources, *self._own_sources] if source not in self._sent]

    async def _renegotiate_when_connected(self) -> None:
        await self._connected.wait()  # cancelled with the link's other tasks if it closes first
        self._incoming.put_nowait(self._renegotiate)

    async def _renegotiate(self) -> None:
        """One offer with every track not sent yet. Only from a stable state over a connected transport: while an
        offer of ours waits for its answer, the answer's arrival calls this again; before the connection is up,
        ``_renegotiate_when_connected`` does."""
        if self.closed or self.pc.signalingState != "stable" or not self._connected.is_set():
            return
        unsent = self._unsent()
        if not unsent:
            return
        for source in unsent:
            self.pc.addTrack(source.sender_track())  # on a transceiver of its kind that sends nothing, if any
            self._sent.add(source)
        await self._offer()

    def _is_ice_restart(self, sdp: str) -> bool:
        # aiortc types it as always set; it is None before the first remote description.
        current: RTCSessionDescription | None = self.pc.remoteDescription
        if current is None:
            return False
        return ice_ufrags(sdp) != ice_ufrags(current.sdp)

    async def _replace_connection(self) -> None:
        old = self.pc
        for feed in self.feeds:
            feed.stop()
        self.feeds = []
        self.channels = {}
        self.pc = self._new_connection()
        await old.close()
        self._spawn(self._complete_channels())

    async def _apply_candidate(self, candidate: dict[str, Any]) -> None:
        text = candidate.get("candidate")
        if not isinstance(text, str) or not text:
            return  # end of candidates: aiortc needs no word of it
        parsed = candidate_from_sdp(text.removeprefix("candidate:"))
        parsed.sdpMid = candidate.get("sdpMid")
        parsed.sdpMLineIndex = candidate.get("sdpMLineIndex")
        try:
            await self.pc.addIceCandidate(parsed)
        except Exception:
            if not self.ignore_offer:  # candidates of an offer we ignored are expected to fail
                raise

    # --- Tracks and channels ------------------------------------------------------------------------------------

    def _add_tracks(self) -> None:
        """Our tracks on our own offer: each on a transceiver of its own."""
        for source in self._unsent():
            self.pc.addTrack(source.sender_track())
            self._sent.add(source)

    def _attach_tracks_to_offer(self) -> None:
        """Our tracks on the transceivers the other side's offer made (one of their kind that sends nothing yet);
        those for which the offer had no line stay unsent."""
        for source in self._unsent():
            transceiver = next(
                (
                    t
                    for t in self.pc.getTransceivers()
                    if t.kind == source.kind and sender_track(t) is None and not t.stopped
                ),
                None,
            )
            if transceiver is None:
                continue
            transceiver.sender.replaceTrack(source.sender_track())
            transceiver.direction = "sendrecv"
            self._sent.add(source)

    def _on_track(self, pc: RTCPeerConnection, track: MediaStreamTrack) -> None:
        if pc is not self.pc or self.closed:
            return
        receiver = next((t.receiver for t in pc.getTransceivers() if t.receiver.track is track), None)
        feed = TrackFeed(track, self.remote_id, self.max_buffered, receiver)
        self.feeds.append(feed)
        self.events.on_track(feed)

    def _open_channel(self, config: DataChannelConfig) -> None:
        channel = self.pc.createDataChannel(
            config.label,
            ordered=config.ordered,
            maxRetransmits=config.max_retransmits,
            maxPacketLifeTime=config.max_packet_life_time,
            protocol=config.protocol,
        )
        self._adopt_channel(self.pc, channel)

    def _adopt_channel(self, pc: RTCPeerConnection, channel: RTCDataChannel) -> None:
        if pc is not self.pc or self.closed:
            return
        label = channel.label
        # When both sides open a channel of the same label, the newest is used to send; both deliver.
        self.channels[label] = channel

        def opened() -> None:
            if not self.closed:
                self.events.on_channel_open(label)

        def closed() -> None:
            if self.channels.get(label) is channel:
                del self.channels[label]
            if not self.closed:
                self.events.on_channel_close(label)

        channel.on("open", opened)
        channel.on("close", closed)
        channel.on("message", lambda data: None if self.closed else self.events.on_channel_message(label, data))
        if channel.readyState == "open":
            opened()

    async def _complete_channels(self) -> None:
        """The answering side opens, once connected, the configured labels the initiator did not open."""
        await self._connected.wait()  # cancelled with the link's other tasks if it closes first
        await asyncio.sleep(1.0)  # the initiator's channels announce themselves first
        for config in self.channel_configs():
            if config.label not in self.channels and not self.closed:
                self._open_channel(config)

    def send(self, label: str, data: str | bytes) -> bool:
        channel = self.channels.get(label)
        if channel is None or channel.readyState != "open":
            return False
        channel.send(data)
        return True

    def open_channel(self, config: DataChannelConfig) -> None:
        if config.label not in self.channels:
            self._open_channel(config)

    def close_channel(self, label: str) -> bool:
        channel = self.channels.pop(label, None)
        if channel is None:
            return False
        channel.close()
        return True

    # --- Connection state and ICE restarts ----------------------------------------------------------------------

    @property
    def state(self) -> str:
        return str(self.pc.connectionState)

    def _on_state(self, pc: RTCPeerConnection) -> None:
        if pc is not self.pc or self.closed:
            return
        state = pc.connectionState
        if self._disconnected is not None:
            self._disconnected.cancel()
            self._disconnected = None
        if state == "connected":
            self._connected.set()
        else:
            self._connected.clear()
        if state == "connected":
            self.ice_restarts = 0
            if self._pc_servers is not self.ice_servers:
                # Fresh credentials came while this connection was being made with older ones.
                self._incoming.put_nowait(self._move_to_fresh_connection)
        elif state == "failed":
            self._spawn(self.restart_ice())
        elif state == "disconnected":
            # Often back by itself; past the grace, look for a new path.
            self._disconnected = asyncio.get_running_loop().call_later(
                DISCONNECTED_GRACE, lambda: self._spawn(self.restart_ice())
            )
        self.events.on_state(state)

    async def _watch_connection(self) -> None:
        pc = self.pc
        await asyncio.sleep(self.connection_timeout)
        if not self.closed and pc is self.pc and self.pc.connectionState != "connected":
            await self.restart_ice()

    def use_ice_servers(self, ice_servers: list[dict[str, Any]]) -> None:
        """New ICE servers (fresh TURN credentials) for this link. The TURN server refuses the refreshes of an
        allocation once the credentials it was made with expire: when our side of the path relays, the link moves
        to a fresh connection on the new ones (aiortc cannot restart ICE on a live one), which the other side takes
        as an ICE restart. Not counted as a failed path. A direct path goes on as it is; a connection not up yet
        moves once it is, if it was made with older servers than these."""
        self.ice_servers = ice_servers
        # In line with the remote descriptions: the other side may be moving its own path at the same moment, and
        # one of the two connections must not be replaced while the other's offer is being answered.
        self._incoming.put_nowait(self._move_to_fresh_connection)

    async def _move_to_fresh_connection(self) -> None:
        if self.closed or self._pc_servers is self.ice_servers:
            return  # made with these already (the other side's move brought a fresh connection)
        if self.pc.connectionState != "connected" or not relays_locally(self.pc):
            return  # direct; or not up yet (it moves once it is: _on_state)
        await self._replace_connection()
        self.initiator = True
        await self.start()

    async def restart_ice(self) -> None:
        """Look for a new network path to this peer, as the browser client does when a path fails. aiortc cannot
        restart ICE on a live connection: the impolite side of the pair offers on a fresh one (new ICE credentials,
        new DTLS transport), which the other side takes as an ICE restart; the polite side waits for that offer.
        After ``MAX_ICE_RESTARTS`` in a row without a connection, the peer is reported ``ice-failed``."""
        if self.closed:
            return
        if self.ice_restarts >= MAX_ICE_RESTARTS:
            self._fail("ice-failed", f"No network path to peer {self.remote_id} after {MAX_ICE_RESTARTS} ICE restarts")
            return
        self.ice_restarts += 1
        if self.polite:
            return
        await self._replace_connection()
        self.initiator = True
        await self.start()

    def _fail(self, code: str, message: str) -> None:
        if not self.closed:
            self.events.on_error(WebRTCCallError(code, message, self.remote_id))
