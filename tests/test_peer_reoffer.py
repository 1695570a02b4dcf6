"""A Python peer's later offers keep what was negotiated (``signaling.peer.reoffer``): a browser refuses an offer
that moves an RTP header extension to another id or a codec to another payload type (Chromium: "RTP extension ID
reassignment not supported"), which is what aiortc's own ``createOffer`` does on a live connection."""

from __future__ import annotations

import re

import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from signaling.peer.reoffer import adopt_offer, create_offer

MID = "urn:ietf:params:rtp-hdrext:sdes:mid"
AUDIO_LEVEL = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"


def as_a_browser_numbers_it(sdp: str) -> str:
    """aiortc's offer numbered as Chromium numbers its own: opus on 111, audio level on id 1, mid on id 4."""
    sdp = sdp.replace("opus/48000", "OPUS_PT").replace(" 96 ", " 111 ").replace("a=rtpmap:96 ", "a=rtpmap:111 ")
    sdp = sdp.replace("OPUS_PT", "opus/48000")
    sdp = sdp.replace(f"a=extmap:1 {MID}", f"a=extmap:4 {MID}").replace(
        f"a=extmap:2 {AUDIO_LEVEL}", f"a=extmap:1 {AUDIO_LEVEL}"
    )
    return sdp


def sections(sdp: str) -> list[str]:
    return sdp.split("\r\nm=")[1:]


def extmap(section: str) -> dict[str, int]:
    return {uri: int(number) for number, uri in re.findall(r"a=extmap:(\d+) (\S+)", section)}


def payload_types(section: str) -> dict[int, str]:
    return {int(pt): codec for pt, codec in re.findall(r"a=rtpmap:(\d+) (\S+)", section)}


@pytest.fixture
async def negotiated() -> tuple[RTCPeerConnection, RTCPeerConnection]:
    """A "browser" offered audio with its own numbers; the Python peer answered."""
    browser, python = RTCPeerConnection(), RTCPeerConnection()
    browser.addTrack(AudioStreamTrack())
    await browser.setLocalDescription(await browser.createOffer())
    offer = as_a_browser_numbers_it(browser.localDescription.sdp)
    assert "a=rtpmap:111 opus/48000/2" in offer
    await python.setRemoteDescription(RTCSessionDescription(offer, "offer"))
    await python.setLocalDescription(await python.createAnswer())
    await browser.setRemoteDescription(python.localDescription)
    return browser, python


async def test_a_reoffer_keeps_the_negotiated_numbers_and_fits_new_media_beside_them(
    negotiated: tuple[RTCPeerConnection, RTCPeerConnection],
) -> None:
    browser, python = negotiated
    # The Python peer now sends audio on the negotiated line and video on a new one.
    python.addTrack(AudioStreamTrack())
    python.addTrack(VideoStreamTrack())
    sdp = await create_offer(python)
    audio, video = sections(sdp)
    assert audio.split("\r\n")[0].split()[3] == "111"  # the m-line lists opus first, on 111
    assert payload_types(audio)[111] == "opus/48000/2"
    assert extmap(audio) == {AUDIO_LEVEL: 1, MID: 4}
    # One number means one thing across the BUNDLE group: the new line's mid is 4 too, its other extensions
    # take free ids, and its payload types are none of audio's.
    assert extmap(video)[MID] == 4
    assert not {number for uri, number in extmap(video).items() if uri != MID} & {1, 4}
    assert not set(payload_types(video)) & set(payload_types(audio))
    # What the Python peer receives with is still what was agreed, before and after the new offer is set.
    (audio_transceiver, video_transceiver) = python.getTransceivers()
    assert audio_transceiver._codecs[0].payloadType == 111
    await python.setLocalDescription(RTCSessionDescription(sdp, "offer"))
    adopt_offer(python, sdp)
    assert audio_transceiver._codecs[0].payloadType == 111
    assert {c.payloadType for c in video_transceiver._codecs} == set(payload_types(video))
    # The other side takes it, and the answer agrees.
    await browser.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
    await browser.setLocalDescription(await browser.createAnswer())
    await python.setRemoteDescription(browser.localDescription)
    assert extmap(sections(browser.localDescription.sdp)[1])[MID] == 4
    await browser.close()
    await python.close()


async def test_a_first_offer_is_aiortcs_own(negotiated: tuple[RTCPeerConnection, RTCPeerConnection]) -> None:
    fresh = RTCPeerConnection()
    fresh.addTrack(AudioStreamTrack())
    sdp = await create_offer(fresh)
    assert extmap(sections(sdp)[0])[MID] == 1  # nothing negotiated: nothing to keep
    for pc in (fresh, *negotiated):
        await pc.close()
