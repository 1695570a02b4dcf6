"""A Python peer for calls: bots, AI agents, recorders and test peers join rooms as browsers do, over aiortc.

Needs the ``peer`` extra (``pip install "django-rtc-signaling[peer]"``: aiortc, websockets, numpy), and no Django:
any asyncio program can use it. See docs/peer.md.
"""

from signaling.peer.call import WebRTCCall, reconnect_delay, signaling_url
from signaling.peer.errors import FINAL_CLOSE_CODES, WebRTCCallError
from signaling.peer.events import (
    CallEvent,
    ConnectionState,
    DataChannelClose,
    DataChannelMessage,
    DataChannelOpen,
    ErrorOccurred,
    Joined,
    PeerJoined,
    PeerLeft,
    PeerUpdated,
    Reconnected,
    Reconnecting,
    SfuMoved,
    StateChanged,
    TrackReceived,
)
from signaling.peer.link import DataChannelConfig
from signaling.peer.media import GeneratedAudioTrack, GeneratedVideoTrack, RemoteTrack, tone

__all__ = [
    "FINAL_CLOSE_CODES",
    "CallEvent",
    "ConnectionState",
    "DataChannelClose",
    "DataChannelConfig",
    "DataChannelMessage",
    "DataChannelOpen",
    "ErrorOccurred",
    "GeneratedAudioTrack",
    "GeneratedVideoTrack",
    "Joined",
    "PeerJoined",
    "PeerLeft",
    "PeerUpdated",
    "Reconnected",
    "Reconnecting",
    "RemoteTrack",
    "SfuMoved",
    "StateChanged",
    "TrackReceived",
    "WebRTCCall",
    "WebRTCCallError",
    "reconnect_delay",
    "signaling_url",
    "tone",
]
