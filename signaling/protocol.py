"""The wire protocol (``docs/protocol.md``): error and close codes, Agentuity's error texts, the server's frames and
their encoding, and the JSON door every client frame passes (``parse``; ``signaling.client_frames`` makes typed
values of what passes it). Nothing here does I/O.
"""

from __future__ import annotations

import json
import re
from enum import StrEnum
from typing import Any, Literal, NotRequired, TypedDict


class ErrorCode(StrEnum):
    """Stable machine-readable words carried by ``error.code``."""

    INVALID_JSON = "invalid-json"
    INVALID_MESSAGE = "invalid-message"
    UNKNOWN_TYPE = "unknown-type"
    INVALID_ROOM = "invalid-room"
    ROOM_FULL = "room-full"
    NOT_IN_ROOM = "not-in-room"
    ALREADY_JOINED = "already-joined"
    TOO_LARGE = "too-large"
    RATE_LIMITED = "rate-limited"
    FORBIDDEN = "forbidden"
    ROOM_CLOSED = "room-closed"
    INTERNAL = "internal"
    #: The room's media goes through the SFU and this client did not say it can take part (``capabilities``).
    SFU_UNSUPPORTED = "sfu-unsupported"
    #: The room's media goes through the SFU, which is not configured or cannot be reached now.
    SFU_UNAVAILABLE = "sfu-unavailable"


class LeaveReason(StrEnum):
    """Why a peer left, as carried by ``peer-left.reason``."""

    DISCONNECT = "disconnect"
    LEAVE = "leave"
    KICKED = "kicked"
    TIMEOUT = "timeout"
    ROOM_CLOSED = "room-closed"


class CloseCode:
    """WebSocket close codes the server uses (and the clients' own that the server reads)."""

    # Sent by no one: the connection ended without a close frame (a network failure, a crash). The peer is parked.
    ABNORMAL = 1006
    # The standard "service restart": this worker lost its registration; the client should reconnect.
    SERVICE_RESTART = 1012
    # The standard "try again later": this worker holds SIGNALING["MAX_SOCKETS"] sockets already.
    TRY_AGAIN_LATER = 1013
    # From a client: it closes this socket to open another and `resume` (the browser client's stale-socket and
    # join-timeout handling). The peer is parked, as after a drop.
    CLIENT_RECONNECTING = 4000
    FORBIDDEN = 4001
    ORIGIN_NOT_ALLOWED = 4003
    RATE_LIMITED = 4008
    TOO_LARGE = 4009
    KICKED = 4010
    ROOM_CLOSED = 4011
    # The client's address holds SIGNALING["MAX_SOCKETS_PER_ADDRESS"] sockets on this worker already.
    TOO_MANY_CONNECTIONS = 4012
    # The client left more than SIGNALING["OUTBOUND_BUFFER_BYTES"] unread: it is cut off and leaves its room.
    SLOW_READER = 4013
    # A resume on another socket took this peer's place (the newest connection of a peer wins).
    REPLACED = 4014


#: Close codes after which a member is parked for a resume; any other close is a departure (a close the client
#: chose, with or without a code, or one the server chose).
PARKING_CLOSE_CODES = frozenset({CloseCode.ABNORMAL, CloseCode.CLIENT_RECONNECTING})


#: The close code of a socket whose stay a moderator ended, by leave reason.
EVICTION_CLOSE_CODES = {LeaveReason.KICKED: CloseCode.KICKED, LeaveReason.ROOM_CLOSED: CloseCode.ROOM_CLOSED}


class SignalingError(Exception):
    """A client's message was refused: sent back as ``{"t": "error", "code", "message"}``."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def frame(self) -> str:
        frame: ErrorFrame = {"t": "error", "code": self.code.value, "message": self.message}
        return encode(frame)


# Agentuity's texts, verbatim: clients written for Agentuity's server may match on them.
INVALID_JSON = "Invalid JSON"
INVALID_FORMAT = "Invalid message format"
INVALID_ROOM_ID = "Missing or invalid roomId"
INVALID_DESCRIPTION = "Missing or invalid description"
INVALID_CANDIDATE = "Missing or invalid candidate"
NOT_IN_A_ROOM = "Not in a room"

# Dots alone ("." and "..") are path segments wherever a room id becomes part of a path or URL: refused.
ROOM_ID_PATTERN = re.compile(r"(?!\.+$)[A-Za-z0-9_.:\-]{1,128}")
#: Longest message type echoed back in `Unknown message type: <t>`.
ECHOED_TYPE_LENGTH = 64

_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


# The frames the server sends (docs/protocol.md), one TypedDict each: the core fields of Agentuity's protocol are
# required, our extensions NotRequired where a frame may go without them. Built only through these types.


class JoinedFrame(TypedDict):
    t: Literal["joined"]
    peerId: str
    roomId: str
    peers: list[str]
    maxPeers: int
    resume: str
    roles: dict[str, str]
    metadata: dict[str, dict[str, Any]]
    media: dict[str, dict[str, bool]]
    role: NotRequired[str]
    iceServers: NotRequired[list[dict[str, Any]]]
    #: ``"sfu"`` in a room whose media goes through the SFU (absent in a mesh room).
    topology: NotRequired[str]
    #: In an SFU room: ``"kept"`` when a resume took over the Janus session the client's connections are with
    #: (they live on), ``"new"`` when the client must publish and subscribe anew.
    sfuSession: NotRequired[str]


class IceServersFrame(TypedDict):
    """Fresh TURN credentials for a peer in a room, before the ones it has expire (extension)."""

    t: Literal["ice-servers"]
    iceServers: list[dict[str, Any]]


class PeerJoinedFrame(TypedDict):
    t: Literal["peer-joined"]
    peerId: str
    role: NotRequired[str]
    metadata: NotRequired[dict[str, Any]]
    media: NotRequired[dict[str, bool]]


class PeerLeftFrame(TypedDict):
    t: Literal["peer-left"]
    peerId: str
    reason: str


class PeerUpdatedFrame(TypedDict):
    t: Literal["peer-updated"]
    peerId: str
    metadata: NotRequired[dict[str, Any]]
    media: NotRequired[dict[str, bool]]


# "from" is a Python keyword: these two are spelled in the functional syntax.
RelayedSdpFrame = TypedDict("RelayedSdpFrame", {"t": Literal["sdp"], "from": str, "description": dict[str, Any]})
RelayedIceFrame = TypedDict("RelayedIceFrame", {"t": Literal["ice"], "from": str, "candidate": dict[str, Any]})


class ErrorFrame(TypedDict):
    t: Literal["error"]
    code: str
    message: str


class PongFrame(TypedDict):
    t: Literal["pong"]
    ts: NotRequired[int | float]


class ClosedFrame(TypedDict):
    t: Literal["closed"]
    reason: str


class ConnectionTestFrame(TypedDict):
    """What a connection test needs (extension, the reply to ``connection-test``): the ICE servers a call here
    uses, with TURN credentials of the test's own, and the client's address as this server sees it."""

    t: Literal["connection-test"]
    clientAddress: str | None
    iceServers: NotRequired[list[dict[str, Any]]]


class ConnectionReportReceivedFrame(TypedDict):
    """A connection test's results reached the site (extension): ``id`` is what support staff look it up by."""

    t: Literal["connection-report-received"]
    id: str


class SfuStream(TypedDict):
    """One stream of an SFU room's subscription: its ``mid`` in the offer, whose it is, and its kind."""

    mid: str
    peerId: str
    kind: str


class SfuSubscriptionFrame(TypedDict):
    """SFU rooms (extension): the SFU's offer for the connection that carries every other publisher's streams,
    each ``mid`` named by the peer it is of. Sent again whenever publishers come and go; answered with
    ``sfu-subscribed``."""

    t: Literal["sfu-subscription"]
    description: dict[str, Any]
    streams: list[SfuStream]
    #: True: the offer is for a new connection (a new subscriber handle); the client answers it on a new one
    #: if its subscriber has taken an offer already.
    fresh: NotRequired[bool]


class SfuMovedFrame(TypedDict):
    """SFU rooms (extension): the room moved to another SFU node (its node went down, or was drained). The client's
    connections with the SFU are gone: it makes new ones, publishes and subscribes again; its peer id, its place in
    the room and everything else stay."""

    t: Literal["sfu-moved"]


#: SFU rooms (extension): the simulcast layers a subscriber may ask for of a peer's video (``sfu-quality``), best
#: first; ``off`` receives none.
SFU_QUALITIES = ("high", "medium", "low", "off")


class SfuPublishedFrame(TypedDict):
    """SFU rooms (extension): the SFU's answer to the client's ``sfu-publish`` offer."""

    t: Literal["sfu-published"]
    description: dict[str, Any]


#: SFU rooms (extension): a data message from ``from`` on channel ``label``, relayed by the server; ``text``, or
#: ``binary`` in base64 (a function form: "from" is a keyword).
RelayedDataFrame = TypedDict(
    "RelayedDataFrame",
    {"t": Literal["data"], "from": str, "label": str, "text": NotRequired[str], "binary": NotRequired[str]},
)


ServerFrame = (
    JoinedFrame
    | PeerJoinedFrame
    | PeerLeftFrame
    | PeerUpdatedFrame
    | RelayedSdpFrame
    | RelayedIceFrame
    | ErrorFrame
    | PongFrame
    | ClosedFrame
    | IceServersFrame
    | ConnectionTestFrame
    | ConnectionReportReceivedFrame
    | SfuSubscriptionFrame
    | SfuMovedFrame
    | SfuPublishedFrame
    | RelayedDataFrame
)


def encode(message: ServerFrame) -> str:
    """Serialize one outgoing frame as compact JSON: frames of the types above only."""
    return _encoder.encode(message)


def encode_json(value: Any) -> str:
    """Any JSON value in the frames' compact form (what a peer's metadata measures, what Redis keeps)."""
    return _encoder.encode(value)


class PeerRole(StrEnum):
    """What a peer that is not a plain participant is there for (an extension: `peer-joined.role`, `joined.roles`).
    Such a peer joins with a room token naming its role, and every member is told what it is. A recorder or an
    agent (staff-minted tokens) takes one of the room's extra seats rather than a participant's; a viewer takes a
    participant's seat but may not publish (SFU rooms only: the server refuses its ``sfu-publish``)."""

    RECORDER = "recorder"
    AGENT = "agent"
    VIEWER = "viewer"


#: Peer ids of peers in an extra seat: ``peer.<role>.<random>``; a viewer's is ``peer-viewer.<random>``
#: (participants' are ``peer-<random>``; the random part is URL-safe base64, which has no dot, so none of them
#: meet). Any worker tells a peer's role from its id alone, and the registries count every id that begins
#: ``peer.`` against the extra seats, every other (a viewer's too) against the room's capacity.
ROLE_PEER_PREFIX = "peer."
VIEWER_PEER_PREFIX = "peer-viewer."


def takes_extra_seat(role: PeerRole | None) -> bool:
    """Whether a peer of ``role`` sits in one of the room's extra seats (a recorder, an agent)."""
    return role is not None and role != PeerRole.VIEWER


def role_peer_id(role: PeerRole, random_part: str) -> str:
    if role == PeerRole.VIEWER:
        return f"{VIEWER_PEER_PREFIX}{random_part}"
    return f"{ROLE_PEER_PREFIX}{role.value}.{random_part}"


def role_of(peer_id: str) -> str | None:
    """The role a peer id carries, or None for a participant."""
    if peer_id.startswith(VIEWER_PEER_PREFIX):
        return PeerRole.VIEWER.value
    if not peer_id.startswith(ROLE_PEER_PREFIX):
        return None
    role = peer_id[len(ROLE_PEER_PREFIX) :].split(".", 1)[0]
    return role if role in PeerRole._value2member_map_ and role != PeerRole.VIEWER else None


def peer_joined_frame(peer_id: str, state: dict[str, Any] | None = None) -> str:
    """``peer-joined``, with the newcomer's role, metadata and media state when it has them."""
    frame: PeerJoinedFrame = {"t": "peer-joined", "peerId": peer_id}
    role = role_of(peer_id)
    if role is not None:
        frame["role"] = role
    if state and "metadata" in state:
        frame["metadata"] = state["metadata"]
    if state and "media" in state:
        frame["media"] = state["media"]
    return encode(frame)


def peer_left_frame(peer_id: str, reason: str) -> str:
    frame: PeerLeftFrame = {"t": "peer-left", "peerId": peer_id, "reason": reason}
    return encode(frame)


def ice_servers_frame(ice_servers: list[dict[str, Any]]) -> str:
    frame: IceServersFrame = {"t": "ice-servers", "iceServers": ice_servers}
    return encode(frame)


def closed_frame(reason: str) -> str:
    frame: ClosedFrame = {"t": "closed", "reason": reason}
    return encode(frame)


def room_full_message(max_peers: int) -> str:
    return f"Room is full (max {max_peers} peers)"


def unknown_type_message(kind: str) -> str:
    return f"Unknown message type: {kind[:ECHOED_TYPE_LENGTH]}"


UNENCODABLE_TEXT = "Strings must be valid Unicode without NUL characters"
# What no frame may carry in any string: a lone surrogate (no UTF-8 encoding exists, so it can be neither sent
# to another client nor stored) and NUL (PostgreSQL refuses it in text).
_UNSAFE_CHARACTER = re.compile("[\x00\ud800-\udfff]")


def parse(text: str) -> tuple[str, dict[str, Any]]:
    """Decode a client frame into its ``t`` and the whole message.

    Every string in the message, keys included, is valid Unicode without NUL once this returns: what passes the
    door can be relayed, sent to another worker and recorded without an encoding error anywhere downstream.
    """
    if not text.isascii() and _UNSAFE_CHARACTER.search(text):
        # Raw characters (a server that hands over unvalidated text); JSON never allows a raw NUL in a string.
        raise SignalingError(ErrorCode.INVALID_MESSAGE, UNENCODABLE_TEXT)
    try:
        message = json.loads(text)
    except (ValueError, RecursionError):
        # RecursionError: nesting deeper than the parser's stack (a 64 KiB frame can nest 32,000 deep).
        raise SignalingError(ErrorCode.INVALID_JSON, INVALID_JSON) from None
    if not isinstance(message, dict):
        raise SignalingError(ErrorCode.INVALID_MESSAGE, INVALID_FORMAT)
    # Only a \u escape can bring a surrogate or NUL into a decoded string; most frames have none.
    if "\\u" in text and _has_unsafe_string(message):
        raise SignalingError(ErrorCode.INVALID_MESSAGE, UNENCODABLE_TEXT)
    kind = message.get("t")
    if not isinstance(kind, str):
        raise SignalingError(ErrorCode.INVALID_MESSAGE, INVALID_FORMAT)
    return kind, message


def printable(value: str, limit: int = 128) -> str:
    """``value`` cut to ``limit`` characters with any character a frame may not carry replaced by U+FFFD: safe to
    log and to store (a refused join's requested room id, say)."""
    return _UNSAFE_CHARACTER.sub("\ufffd", value[:limit])


def _has_unsafe_string(value: object) -> bool:
    """Whether any string in a decoded JSON value (keys too) has a character ``_UNSAFE_CHARACTER`` matches."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _UNSAFE_CHARACTER.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def is_valid_room_id(value: object) -> bool:
    return isinstance(value, str) and ROOM_ID_PATTERN.fullmatch(value) is not None
