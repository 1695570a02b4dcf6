"""The client's edges, in Chromium: bad options, a source that fails, the socket URL, custom streams."""

from __future__ import annotations

import pytest

from rtcsite.servers import wait_for_async
from tests.browser.conftest import OpenPage, wait_connected

IMPORT = "const m = await import('/static/frontend/webrtc/index.js');"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("{signalUrl: '/s'}", "roomId must be 1 to 128 letters"),
        ("{roomId: 'a b', signalUrl: '/s'}", "roomId must be 1 to 128 letters"),
        ("{roomId: 'x'.repeat(129), signalUrl: '/s'}", "roomId must be 1 to 128 letters"),
        ("{roomId: 'r'}", "signalUrl must be a non-empty string"),
        ("{roomId: 'r', signalUrl: 'ftp://example.test/s'}", "signalUrl must be a path or a ws:"),
        ("{roomId: 'r', signalUrl: '/s', media: 42, autoConnect: true}", "media must be"),
    ],
)
def test_bad_options_are_refused_with_a_clear_error(open_page: OpenPage, options: str, message: str) -> None:
    page = open_page("/")
    error = page.evaluate(
        f"""async () => {{ {IMPORT}
            try {{ const call = new m.WebRTCCall({options}); await call.connect(); return call.error?.message; }}
            catch (e) {{ return `${{e.name}}: ${{e.message}}`; }} }}"""
    )
    assert isinstance(error, str)
    assert message in error


def test_source_that_fails_ends_the_call_with_its_error(open_page: OpenPage, room_id: str) -> None:
    page = open_page("/")
    outcome = page.evaluate(
        f"""async () => {{ {IMPORT}
            const errors = [];
            const sockets = [];
            const NativeSocket = window.WebSocket;
            window.WebSocket = class extends NativeSocket {{
              constructor(...a) {{ super(...a); sockets.push(a[0]); }}
            }};
            const denied = {{ kind: 'test', stop() {{}},
              getStream: async () => {{ throw new DOMException('Permission denied', 'NotAllowedError'); }} }};
            const call = new m.WebRTCCall({{ roomId: {room_id!r}, signalUrl: '/api/call/signal', media: denied,
              autoConnect: false, callbacks: {{ onError: (e, state) => errors.push([e.name, state]) }} }});
            await call.connect();
            return {{ errors, state: call.state, error: call.error.name, sockets }};
        }}"""
    )
    # The user said no to the camera: no socket was opened, nothing joined.
    assert outcome == {
        "errors": [["NotAllowedError", "idle"]],
        "state": "idle",
        "error": "NotAllowedError",
        "sockets": [],
    }


def test_socket_url_comes_from_the_page(open_page: OpenPage) -> None:
    page = open_page("/")
    urls = page.evaluate(
        f"""async () => {{ {IMPORT}
            return [
              m.signalingUrl('/api/call/signal', 'r1', 'https://example.test/call/r1/'),
              m.signalingUrl('/api/call/signal', 'r1', 'http://example.test:8000/x'),
              m.signalingUrl('wss://signal.example.test/s?token=abc', 'r:2', 'https://example.test/'),
              m.signalingUrl('/s?room=r3', 'r3', 'http://example.test/'),
            ]; }}"""
    )
    assert urls == [
        "wss://example.test/api/call/signal?room=r1",
        "ws://example.test:8000/api/call/signal?room=r1",
        "wss://signal.example.test/s?token=abc&room=r%3A2",
        "ws://example.test/s?room=r3",
    ]


def test_custom_stream_source_sends_a_canvas(open_page: OpenPage, room_id: str) -> None:
    # One page sends a canvas it draws (CustomStreamSource); the other receives the canvas's frame size.
    script = f"""async () => {{ {IMPORT}
        const canvas = Object.assign(document.createElement('canvas'), {{ width: 160, height: 120 }});
        const context = canvas.getContext('2d');
        setInterval(() => {{ context.fillStyle = `hsl(${{Date.now() % 360}} 80% 50%)`;
                             context.fillRect(0, 0, 160, 120); }}, 30);
        window.call.hangup();
        window.call = new m.WebRTCCall({{ roomId: {room_id!r}, signalUrl: '/api/call/signal',
          media: new m.CustomStreamSource(canvas.captureStream(30)) }});
    }}"""
    sender = open_page(f"/call/{room_id}/")
    sender.evaluate(script)
    receiver = open_page(f"/call/{room_id}/")
    receiver.click("#join")
    wait_connected(sender, receiver)
    remote = sender.evaluate("window.call.peerId")
    wait_for_async(
        receiver, "async (peer) => (await window.call.getQualitySummary(peer))?.video?.frameWidth === 160", remote
    )
    # Hanging up leaves a custom stream's tracks alone: they belong to the page.
    sender.evaluate("window.kept = window.call.getSnapshot().localStream; window.call.hangup()")
    assert sender.evaluate("window.kept.getVideoTracks()[0].readyState") == "live"


def test_quality_summary_from_known_stats(open_page: OpenPage) -> None:
    # A stats report written by hand: every field of the summary is computed from it, loss over audio and video.
    page = open_page("/")
    summary = page.evaluate(
        f"""async () => {{ {IMPORT}
            const report = (at, audioBytes, videoBytes, sentBytes) => new Map(Object.entries({{
              t: {{ type: 'transport', timestamp: at, selectedCandidatePairId: 'p' }},
              p: {{ type: 'candidate-pair', timestamp: at, currentRoundTripTime: 0.042,
                    localCandidateId: 'l', remoteCandidateId: 'r' }},
              l: {{ type: 'local-candidate', timestamp: at, candidateType: 'relay', relayProtocol: 'tls' }},
              r: {{ type: 'remote-candidate', timestamp: at, candidateType: 'host' }},
              a: {{ type: 'inbound-rtp', kind: 'audio', timestamp: at, bytesReceived: audioBytes,
                    packetsReceived: 950, packetsLost: 50, jitter: 0.012 }},
              v: {{ type: 'inbound-rtp', kind: 'video', timestamp: at, bytesReceived: videoBytes,
                    packetsReceived: 2850, packetsLost: 150, framesPerSecond: 30, framesDropped: 4,
                    frameWidth: 1280, frameHeight: 720 }},
              o: {{ type: 'outbound-rtp', kind: 'video', timestamp: at, bytesSent: sentBytes, frameWidth: 640 }},
            }}));
            const first = m.summarizeStats(report(1000, 0, 0, 0), null, 5);
            const sendingOnly = report(3000, 8000, 250000, 100000);
            sendingOnly.delete('v');
            return [m.summarizeStats(report(3000, 8000, 250000, 100000), first.sample, 7).summary,
                    m.summarizeStats(sendingOnly, first.sample, 7).summary];
        }}"""
    )
    summary, sending_only = summary
    # Video details describe what comes in, as the seed reports them: nothing when nothing does.
    assert "video" not in sending_only
    assert sending_only["bitrate"]["video"] == {"outbound": 400_000}
    assert summary == {
        "timestamp": 7,
        "rtt": 42,
        "jitter": 12,
        "packetLossPercent": 5,  # (50 + 150) lost of 4,000 expected
        "candidatePair": {
            "usingRelay": True,
            "localCandidateType": "relay",
            "remoteCandidateType": "host",
            "relayProtocol": "tls",
        },
        "bitrate": {"audio": {"inbound": 32000}, "video": {"inbound": 1_000_000, "outbound": 400_000}},
        "video": {"framesPerSecond": 30, "framesDropped": 4, "frameWidth": 1280, "frameHeight": 720},
    }
