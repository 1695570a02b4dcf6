"""A re-offer that keeps what the connection already negotiated.

aiortc's ``createOffer`` starts every transceiver over from its default codec list and header extensions, so a
second offer on a live connection renumbers them: opus moves from the payload type the browser chose (111) to
aiortc's (96), the ``mid`` extension from id 4 to id 1. Browsers refuse such an offer (Chromium: "RTP extension ID
reassignment not supported"), and aiortc itself would receive on payload types the other side does not send.
RFC 8843 §7.5 and JSEP §5.2.2 ask a subsequent offer to keep every mapping already agreed; this module makes
aiortc's offer do that:

- the media sections negotiated before keep exactly their negotiated codecs, payload types and extension ids;
- a media section new in this offer takes, for what the BUNDLE group already maps, the same payload type or
  extension id (one number means one thing across the group), and for the rest numbers no section uses yet.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from aiortc import RTCPeerConnection, RTCRtpTransceiver
from aiortc import sdp as aiortc_sdp
from aiortc.rtcrtpparameters import RTCRtpCodecParameters, RTCRtpHeaderExtensionParameters

#: One-byte RTP header extension ids (RFC 8285 §4.2): what browsers offer and aiortc writes.
EXTENSION_IDS = range(1, 15)
#: Dynamic payload types, in the order browsers take them (RFC 3551 §3, and Chromium's lower range).
DYNAMIC_PAYLOAD_TYPES = [*range(96, 128), *range(35, 64)]

CodecKey = tuple[str, int, int | None, tuple[tuple[str, str], ...]]


@dataclass(frozen=True)
class NegotiatedMedia:
    """What one media section (by its mid) agreed on: the codecs with their payload types, the extensions."""

    codecs: list[RTCRtpCodecParameters]
    header_extensions: list[RTCRtpHeaderExtensionParameters]


def _transceiver_state(transceiver: RTCRtpTransceiver) -> NegotiatedMedia:
    # aiortc keeps the negotiated parameters on private attributes, which createOffer overwrites.
    return NegotiatedMedia(list(transceiver._codecs), list(transceiver._headerExtensions))


def negotiated_media(pc: RTCPeerConnection) -> dict[str, NegotiatedMedia]:
    """The media sections negotiated so far, by mid (none before the first offer/answer exchange completes)."""
    if pc.signalingState != "stable" or pc.remoteDescription is None:
        return {}
    return {
        transceiver.mid: _transceiver_state(transceiver)
        for transceiver in pc.getTransceivers()
        if transceiver.mid is not None and not transceiver.stopped
    }


def restore(pc: RTCPeerConnection, negotiated: dict[str, NegotiatedMedia]) -> None:
    """Put back what ``createOffer`` reset: aiortc receives with these until the answer to the new offer."""
    for transceiver in pc.getTransceivers():
        media = negotiated.get(transceiver.mid) if transceiver.mid is not None else None
        if media is not None:
            transceiver._codecs = list(media.codecs)
            transceiver._headerExtensions = list(media.header_extensions)


def adopt_offer(pc: RTCPeerConnection, offer_sdp: str) -> None:
    """After ``setLocalDescription``: the new transceivers receive with the numbers the offer gave them."""
    sections = {media.rtp.muxId: media for media in aiortc_sdp.SessionDescription.parse(offer_sdp).media}
    for transceiver in pc.getTransceivers():
        media = sections.get(transceiver.mid) if transceiver.mid is not None else None
        if media is not None and media.kind in ("audio", "video"):
            transceiver._codecs = list(media.rtp.codecs)
            transceiver._headerExtensions = list(media.rtp.headerExtensions)


def _codec_key(codec: RTCRtpCodecParameters, apt: int | None = None) -> CodecKey:
    parameters = dict(codec.parameters)
    if apt is not None:
        parameters["apt"] = apt
    return (
        codec.mimeType.lower(),
        codec.clockRate,
        codec.channels,
        tuple(sorted((str(name), str(value)) for name, value in parameters.items())),
    )


def _is_rtx(codec: RTCRtpCodecParameters) -> bool:
    return codec.mimeType.lower().endswith("/rtx")


class _BundleNumbers:
    """The payload types and extension ids the offer's sections use, and what each means."""

    def __init__(self) -> None:
        self.payload_types: dict[CodecKey, int] = {}
        self.used_payload_types: set[int] = set()
        self.extension_ids: dict[str, int] = {}
        self.used_extension_ids: set[int] = set()

    def record(self, codecs: list[RTCRtpCodecParameters], extensions: list[RTCRtpHeaderExtensionParameters]) -> None:
        for codec in codecs:
            if codec.payloadType is not None:
                self.payload_types.setdefault(_codec_key(codec), codec.payloadType)
                self.used_payload_types.add(codec.payloadType)
        for extension in extensions:
            self.extension_ids.setdefault(extension.uri, extension.id)
            self.used_extension_ids.add(extension.id)

    def _free_payload_type(self, wanted: int | None) -> int:
        if wanted is not None and wanted not in self.used_payload_types:
            return wanted
        free: int | None = next((pt for pt in DYNAMIC_PAYLOAD_TYPES if pt not in self.used_payload_types), None)
        if free is None:
            raise ValueError("no free RTP payload type left for a new media section")
        return free

    def renumber_codecs(self, codecs: list[RTCRtpCodecParameters]) -> list[RTCRtpCodecParameters]:
        """A new section's codecs: an agreed payload type where the group maps the same codec, else a free one
        (aiortc's own where still free); retransmission follows its base codec."""
        renumbered: dict[int | None, int] = {}
        result: list[RTCRtpCodecParameters] = []
        for codec in (c for c in codecs if not _is_rtx(c)):
            new = copy.deepcopy(codec)
            key = _codec_key(codec)
            known = self.payload_types.get(key)
            new.payloadType = known if known is not None else self._free_payload_type(codec.payloadType)
            self.payload_types.setdefault(key, new.payloadType)
            self.used_payload_types.add(new.payloadType)
            renumbered[codec.payloadType] = new.payloadType
            result.append(new)
        for codec in (c for c in codecs if _is_rtx(c)):
            apt = codec.parameters.get("apt")
            if apt not in renumbered:
                continue  # retransmission of a codec this section no longer has
            new = copy.deepcopy(codec)
            new.parameters["apt"] = renumbered[apt]
            key = _codec_key(codec, apt=renumbered[apt])
            known = self.payload_types.get(key)
            new.payloadType = known if known is not None else self._free_payload_type(codec.payloadType)
            self.payload_types.setdefault(key, new.payloadType)
            self.used_payload_types.add(new.payloadType)
            # After its base codec, as browsers write them.
            base = next(i for i, c in enumerate(result) if c.payloadType == renumbered[apt])
            result.insert(base + 1, new)
        return result

    def renumber_extensions(
        self, extensions: list[RTCRtpHeaderExtensionParameters]
    ) -> list[RTCRtpHeaderExtensionParameters]:
        result = []
        for extension in extensions:
            known = self.extension_ids.get(extension.uri)
            if known is None:
                known = next((i for i in EXTENSION_IDS if i not in self.used_extension_ids), None)
                if known is None:
                    continue  # no one-byte id left: the section goes without this extension
                self.extension_ids[extension.uri] = known
                self.used_extension_ids.add(known)
            result.append(RTCRtpHeaderExtensionParameters(id=known, uri=extension.uri))
        return result


async def create_offer(pc: RTCPeerConnection) -> str:
    """An offer (its SDP) that keeps every mapping ``pc`` negotiated before; once it is the local description,
    call :func:`adopt_offer` with it."""
    negotiated = negotiated_media(pc)
    try:
        offer = await pc.createOffer()
    finally:
        restore(pc, negotiated)  # createOffer reset them: what ``pc`` receives with must stay
    return keep_negotiated(offer.sdp, negotiated)


def keep_negotiated(offer_sdp: str, negotiated: dict[str, NegotiatedMedia]) -> str:
    """aiortc's offer with every negotiated mapping kept and the new sections numbered to fit beside them."""
    if not negotiated:
        return offer_sdp
    description = aiortc_sdp.SessionDescription.parse(offer_sdp)
    numbers = _BundleNumbers()
    media_sections = [media for media in description.media if media.kind in ("audio", "video")]
    for media in media_sections:
        agreed = negotiated.get(media.rtp.muxId)
        if agreed is not None:
            media.rtp.codecs = copy.deepcopy(agreed.codecs)
            media.rtp.headerExtensions = copy.deepcopy(agreed.header_extensions)
            media.fmt = [codec.payloadType for codec in media.rtp.codecs]
            numbers.record(media.rtp.codecs, media.rtp.headerExtensions)
    for media in media_sections:
        if media.rtp.muxId not in negotiated:
            media.rtp.codecs = numbers.renumber_codecs(media.rtp.codecs)
            media.rtp.headerExtensions = numbers.renumber_extensions(media.rtp.headerExtensions)
            media.fmt = [codec.payloadType for codec in media.rtp.codecs]
    return str(description)
