"""Video calls in Chromium with its fake camera and microphone: the call demo page and the public API."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page

from tests.browser.conftest import OpenPage, Site, connected_pair, join, media_paths

# Frames and audio level the page receives from `peer`, read from the inbound RTP stats.
INBOUND = """async (peer) => {
  const stats = await window.call.links.get(peer).pc.getStats();
  const out = {};
  stats.forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'video') out.framesDecoded = s.framesDecoded ?? 0;
    if (s.type === 'inbound-rtp' && s.kind === 'audio') out.energy = s.totalAudioEnergy ?? 0;
  });
  return out;
}"""


def inbound(page: Page, peer: str) -> dict[str, float]:
    result: dict[str, float] = page.evaluate(INBOUND, peer)
    return result


def over(page: Page, peer: str, seconds: float) -> dict[str, float]:
    """How many frames were decoded, and how much audio energy arrived, from `peer` in `seconds`."""
    before = inbound(page, peer)
    page.wait_for_timeout(seconds * 1000)
    after = inbound(page, peer)
    return {key: after[key] - before[key] for key in after}


def test_video_call_shows_remote_frames_and_reports_quality(open_page: OpenPage, site: Site, room_id: str) -> None:
    alice, bob, a, b = connected_pair(open_page, f"/call/{room_id}/")
    # Each client told the server how its media goes: the log says direct for both sessions.
    assert media_paths(site, a, b) == {a: "direct", b: "direct"}
    for page, remote in ((alice, b), (bob, a)):
        video = page.locator(f"figure.remote[data-peer='{remote}'] video")
        video.wait_for()
        page.wait_for_function(
            "(peer) => { const v = document.querySelector(`figure[data-peer='${peer}'] video`);"
            " return v.videoWidth > 0 && v.currentTime > 0.5; }",
            arg=remote,
        )
        summary: dict[str, Any] = page.evaluate("(peer) => window.call.getQualitySummary(peer)", remote)
        assert summary["video"]["frameWidth"] > 0
        assert summary["video"]["frameHeight"] > 0
        assert summary["bitrate"]["video"]["inbound"] > 10_000
        assert summary["bitrate"]["audio"]["inbound"] > 1_000
        assert summary["bitrate"]["video"]["outbound"] > 10_000
        assert 0 <= summary["packetLossPercent"] <= 100
        assert summary["rtt"] >= 0
        assert summary["candidatePair"] == {
            "usingRelay": False,
            "localCandidateType": "host",
            "remoteCandidateType": "host",
        }
        assert summary["timestamp"] > 1.7e12
        everyone = page.evaluate("async () => Object.fromEntries(await window.call.getAllQualitySummaries())")
        assert list(everyone) == [remote]
        assert page.evaluate("window.call.getQualitySummary('nobody')") is None
    # The page's live quality panel shows the same peer.
    alice.locator(f"#quality tr[data-peer='{b}']").wait_for()
    assert "\u00d7" in alice.locator(f"#quality tr[data-peer='{b}']").inner_text()


BRIGHTNESS = """(peer) => {
  const video = document.querySelector(`figure[data-peer='${peer}'] video`);
  const canvas = Object.assign(document.createElement('canvas'), { width: 32, height: 24 });
  const context = canvas.getContext('2d', { willReadFrequently: true });
  context.drawImage(video, 0, 0, 32, 24);
  const pixels = context.getImageData(0, 0, 32, 24).data;
  let sum = 0;
  for (let i = 0; i < pixels.length; i += 4) sum += pixels[i] + pixels[i + 1] + pixels[i + 2];
  return sum / (pixels.length / 4) / 3;
}"""


def test_mute_stops_the_tracks_and_unmute_restores_them(open_page: OpenPage, room_id: str) -> None:
    alice, bob, a, _b = connected_pair(open_page, f"/call/{room_id}/")
    bob.wait_for_function("(peer) => window.call.remoteStreams.get(peer)?.getTracks().length === 2", arg=a)
    bob.wait_for_function(f"(peer) => ({BRIGHTNESS})(peer) > 20", arg=a)
    flowing = over(bob, a, 2)
    # Frame counts are loose (a loaded CI machine decodes fewer); what mute must change is below.
    assert flowing["framesDecoded"] > 5, flowing
    assert flowing["energy"] > 0.01, flowing

    alice.click("#mute-video")
    alice.click("#mute-audio")
    assert alice.evaluate("window.call.isVideoMuted && window.call.isAudioMuted")
    assert alice.evaluate("window.call.getSnapshot().localStream.getTracks().every((t) => !t.enabled)")
    assert alice.locator("#mute-audio").inner_text() == "Unmute"
    # Nothing of the camera or the microphone reaches the other side: black frames and silence.
    bob.wait_for_function(f"(peer) => ({BRIGHTNESS})(peer) < 2", arg=a)
    bob.wait_for_timeout(300)
    muted = over(bob, a, 2)
    assert muted["energy"] < flowing["energy"] / 1000, (flowing, muted)
    assert bob.evaluate(BRIGHTNESS, a) < 2

    alice.click("#mute-video")
    alice.click("#mute-audio")
    bob.wait_for_function(f"(peer) => ({BRIGHTNESS})(peer) > 20", arg=a)
    bob.wait_for_timeout(300)
    back = over(bob, a, 2)
    assert back["framesDecoded"] > 5, back
    assert back["energy"] > 0.01, back


def test_screen_share_swaps_the_video_track_and_back(open_page: OpenPage, room_id: str) -> None:
    alice, bob, a, b = connected_pair(open_page, f"/call/{room_id}/")
    sent = "(peer) => window.call.links.get(peer).sentVideoTrack?.id"
    camera = alice.evaluate(sent, b)
    transceivers = alice.evaluate("(peer) => window.call.links.get(peer).pc.getTransceivers().length", b)
    alice.click("#share")  # a user gesture, which getDisplayMedia requires
    alice.wait_for_function("window.call.isScreenSharing")
    screen = alice.evaluate(sent, b)
    assert screen
    assert screen != camera
    assert alice.evaluate("window.call.screenStream.getVideoTracks()[0].id") == screen
    # Same transceiver, new source: no renegotiation, and the remote video keeps playing.
    assert alice.evaluate("(peer) => window.call.links.get(peer).pc.getTransceivers().length", b) == transceivers
    assert alice.locator("#share").inner_text() == "Stop sharing"
    bob.wait_for_timeout(500)
    assert over(bob, a, 1.5)["framesDecoded"] > 5

    alice.click("#share")
    alice.wait_for_function("!window.call.isScreenSharing")
    assert alice.evaluate(sent, b) == camera
    assert alice.evaluate("window.call.getSnapshot().localStream.getVideoTracks()[0].readyState") == "live"
    assert over(bob, a, 1.5)["framesDecoded"] > 5

    # The browser's own "stop sharing" ends the track: the camera comes back by itself.
    alice.click("#share")
    alice.wait_for_function("window.call.isScreenSharing")
    alice.evaluate(
        "window.call.screenStream.getVideoTracks()[0].stop(); "
        "window.call.screenStream.getVideoTracks()[0].dispatchEvent(new Event('ended'))"
    )
    alice.wait_for_function("!window.call.isScreenSharing")
    assert alice.evaluate(sent, b) == camera


RECORD = """async ([peer, ms]) => {
  const local = window.call.startRecording('local', { mimeType: 'video/webm', videoBitsPerSecond: 1_000_000 });
  const remote = window.call.startRecording(peer);
  const recording = [window.call.isRecording('local'), window.call.isRecording(peer)];
  local.pause();
  const paused = local.state;
  local.resume();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const blobs = await window.call.stopAllRecordings();
  const results = {};
  for (const [id, blob] of blobs) {
    const head = [...new Uint8Array(await blob.slice(0, 4).arrayBuffer())];
    const video = document.createElement('video');
    video.muted = true;
    video.src = URL.createObjectURL(blob);
    document.body.append(video);
    await new Promise((resolve, reject) => {
      video.onloadeddata = resolve;
      video.onerror = () => reject(video.error);
    });
    await video.play();
    await new Promise((resolve) => setTimeout(resolve, 700));
    results[id] = { size: blob.size, type: blob.type, head, width: video.videoWidth, played: video.currentTime };
  }
  return { recording, paused, results, after: window.call.isRecording('local'),
           localType: local.mimeType, remoteState: remote.state };
}"""


def test_recording_local_and_remote_streams_gives_playable_webm(open_page: OpenPage, room_id: str) -> None:
    alice, _bob, _a, b = connected_pair(open_page, f"/call/{room_id}/")
    alice.wait_for_function("(peer) => window.call.remoteStreams.get(peer)?.getVideoTracks().length === 1", arg=b)
    outcome = alice.evaluate(RECORD, [b, 2500])
    assert outcome["recording"] == [True, True]
    assert outcome["paused"] == "paused"
    assert outcome["after"] is False
    assert outcome["remoteState"] == "inactive"
    assert outcome["localType"].startswith("video/webm")
    assert set(outcome["results"]) == {"local", b}
    for result in outcome["results"].values():
        assert result["size"] > 10_000
        assert result["type"].startswith("video/webm")
        assert result["head"] == [0x1A, 0x45, 0xDF, 0xA3]  # EBML: a WebM file
        assert result["width"] > 0
        assert result["played"] > 0.2


def test_recording_returns_null_without_a_stream_or_a_fitting_type(open_page: OpenPage, room_id: str) -> None:
    page = open_page(f"/call/{room_id}/")
    assert page.evaluate("window.call.startRecording('local')") is None  # not connected: no local stream
    join(page)
    page.wait_for_function("window.call.state === 'signaling'")
    assert page.evaluate("window.call.startRecording('no-such-peer')") is None
    # An audio-only stream is recorded as audio whatever was asked; a stream without live tracks, not at all.
    assert page.evaluate(
        """() => {
             const stream = new MediaStream(window.call.getSnapshot().localStream.getAudioTracks());
             return import('/static/frontend/webrtc/recording.js').then((m) =>
               [m.recordingMimeType(stream, 'video/x-unknown'), m.recordingMimeType(new MediaStream())]);
           }"""
    ) == ["audio/webm;codecs=opus", None]
    chat = open_page(f"/chat/{room_id}-data/")
    join(chat)
    chat.wait_for_function("window.call.state === 'signaling'")
    assert chat.evaluate("window.call.startRecording('local')") is None  # data only


def test_demo_page_records_and_offers_downloads(open_page: OpenPage, room_id: str) -> None:
    alice, _bob, _a, b = connected_pair(open_page, f"/call/{room_id}/")
    alice.wait_for_function("(peer) => window.call.remoteStreams.get(peer)?.getVideoTracks().length === 1", arg=b)
    alice.click("#record")
    alice.wait_for_function("window.call.getSnapshot().recordingStreamIds.length === 2")
    alice.wait_for_timeout(1500)
    alice.click("#record")
    links = alice.locator("#recordings a")
    links.nth(1).wait_for()
    with alice.expect_download() as download:
        links.first.click()
    assert download.value.suggested_filename.endswith(".webm")
