"""The events of a call, each a small typed record: received through ``WebRTCCall.on(EventType, callback)`` or
by iterating ``WebRTCCall.events()``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from aiortc.mediastreams import MediaStreamTrack

    from signaling.peer.errors import WebRTCCallError

#: The call's state, as the browser client names it.
ConnectionState = Literal["idle", "connecting", "signaling", "connected", "reconnecting", "disconnected", "failed"]


@dataclass(frozen=True)
class Joined:
    peer_id: str
    room_id: str
    peers: tuple[str, ...]
    #: True when this join took back our old place (same peer id) after a reconnect.
    resumed: bool


@dataclass(frozen=True)
class PeerJoined:
    peer_id: str


@dataclass(frozen=True)
class PeerUpdated:
    """A member changed its metadata or its media state (``peer-updated``); each is None when it did not change.
    The call's ``peer_metadata`` and ``peer_media`` have the new ones already."""

    peer_id: str
    metadata: dict[str, Any] | None
    media: dict[str, bool] | None


@dataclass(frozen=True)
class PeerLeft:
    peer_id: str
    reason: str


@dataclass(frozen=True)
class TrackReceived:
    """A remote peer's audio or video track: ``await track.recv()`` gives ``av.AudioFrame``/``av.VideoFrame``s."""

    peer_id: str
    track: MediaStreamTrack


@dataclass(frozen=True)
class DataChannelOpen:
    peer_id: str
    label: str


@dataclass(frozen=True)
class DataChannelClose:
    peer_id: str
    label: str


@dataclass(frozen=True)
class DataChannelMessage:
    peer_id: str
    label: str
    data: str | bytes


@dataclass(frozen=True)
class StateChanged:
    state: ConnectionState


@dataclass(frozen=True)
class Reconnecting:
    attempt: int


@dataclass(frozen=True)
class Reconnected:
    pass


@dataclass(frozen=True)
class SfuMoved:
    """The room moved to another SFU node: our media is published and received anew (extension)."""


@dataclass(frozen=True)
class ErrorOccurred:
    error: WebRTCCallError


CallEvent = (
    Joined
    | PeerJoined
    | PeerUpdated
    | PeerLeft
    | TrackReceived
    | DataChannelOpen
    | DataChannelClose
    | DataChannelMessage
    | StateChanged
    | Reconnecting
    | Reconnected
    | SfuMoved
    | ErrorOccurred
)
