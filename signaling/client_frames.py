"""The frames a client sends (docs/protocol.md, "Client to server"), each parsed into a typed value.

``parse_client_frame`` is the one door: it decodes the JSON (``signaling.protocol.parse``), looks the frame's
``t`` up in ``PARSERS`` and checks every field the frame carries, so what a handler receives is one of the
``ClientFrame`` types with its fields already valid, and a handler never reads a raw dict. Fields are reduced to
what the protocol knows (an ``sdp``'s description to its type and sdp, an ``ice``'s candidate to its four
fields): nothing a client adds is relayed to anyone else.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from signaling.metadata import UPDATE_EMPTY, media_of, metadata_of
from signaling.protocol import (
    INVALID_CANDIDATE,
    INVALID_DESCRIPTION,
    INVALID_FORMAT,
    INVALID_ROOM_ID,
    SFU_QUALITIES,
    ErrorCode,
    SignalingError,
    is_valid_room_id,
    parse,
    printable,
    unknown_type_message,
)

INVALID_PATH = "Missing or invalid path: peerId (a string), relay (true or false), protocol (udp, tcp or tls)"

DESCRIPTION_TYPES = frozenset({"offer", "answer", "pranswer", "rollback"})
#: How a relaying client reaches its TURN server (``path.protocol``).
RELAY_PROTOCOLS = frozenset({"udp", "tcp", "tls"})
#: Longest peer id a ``path`` report may name (the server's own are 25 characters).
MAX_PATH_PEER_ID = 64
#: Largest magnitude of a ``ping.ts``: every finite double a client clock sends fits, 64 KiB of digits do not.
MAX_PING_TIMESTAMP = 2**64

#: What a client may say it can do (``join.capabilities``), and how many names a join may carry.
#: What a client may say it can do (``join.capabilities``): take part in SFU rooms; follow its room to another SFU
#: node (``sfu-moved``, acknowledged with ``sfu-move-taken``).
CAPABILITIES = frozenset({"sfu", "sfu-move"})
MAX_CAPABILITIES = 16
INVALID_CAPABILITIES = f"capabilities must be a list of at most {MAX_CAPABILITIES} strings"
#: The client's two connections in an SFU room (``sfu-ice.target``).
SFU_TARGETS = frozenset({"publisher", "subscriber"})
INVALID_SFU_TARGET = "sfu-ice needs target: publisher or subscriber, and a candidate (or null)"
INVALID_FRESH = "fresh must be true or false"
INVALID_SFU_QUALITY = "sfu-quality needs peerId and quality: high, medium, low or off"
#: Longest data-channel label a ``data`` frame may name.
MAX_LABEL = 64
INVALID_DATA = f"data needs label (1 to {MAX_LABEL} characters) and one of text or binary (base64), both strings"

#: What a connection test checks (``connection-report``), in the order a report lists them.
CONNECTION_CHECKS = ("signaling", "stun", "turn-udp", "turn-tcp", "turn-tls", "media")
CHECK_STATUSES = frozenset({"pass", "fail", "skip"})
#: Longest ``message`` of one check, in characters: a sentence or two a user can act on.
MAX_CHECK_MESSAGE = 300
#: Longest ``address`` of one check (the public address STUN found): an IPv6 address with a port fits.
MAX_CHECK_ADDRESS = 64
#: Largest ``ms`` or ``rttMs`` of a check: ten minutes, far beyond any test's timeout.
MAX_CHECK_MILLISECONDS = 600_000
INVALID_REPORT = (
    "A connection-report carries report.checks: a list of {id, status, message} with id one of "
    + ", ".join(CONNECTION_CHECKS)
    + ", each once, status pass, fail or skip, message a string of at most "
    + f"{MAX_CHECK_MESSAGE} characters, and optionally ms and rttMs (0 to {MAX_CHECK_MILLISECONDS}) and address"
)


# -- the frames --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Join:
    """``join``: enter the room ``room_id``; with ``resume``, take back the place a dropped socket held."""

    room_id: str
    #: A room token (``signaling.tokens``), checked by the join; None: the socket's ``?token=``, if any.
    token: object = None
    #: A resume token (``joined.resume`` of the connection that dropped); None: a new join.
    resume: object = None
    metadata: dict[str, Any] | None = None
    media: dict[str, bool] | None = None
    #: What this client can do beyond Agentuity's protocol (``"sfu"``: take part in an SFU room).
    capabilities: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Leave:
    """``leave``: leave the room, socket kept open."""


@dataclass(frozen=True, slots=True)
class Sdp:
    """``sdp``: a session description for ``to`` (None: everyone else in the room)."""

    to: str | None
    #: An ``RTCSessionDescriptionInit``: its ``type`` and, but for a rollback, its ``sdp``.
    description: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Ice:
    """``ice``: an ICE candidate for ``to`` (None: everyone else in the room)."""

    to: str | None
    #: An ``RTCIceCandidateInit``: ``candidate`` and those of ``sdpMid``, ``sdpMLineIndex``, ``usernameFragment``
    #: it carried.
    candidate: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Ping:
    """``ping``: answered with ``pong``, echoing ``ts`` (the client's clock) when it came with one."""

    ts: int | float | None = None


@dataclass(frozen=True, slots=True)
class Update:
    """``update`` (extension): new metadata, new media state, or both (never neither)."""

    metadata: dict[str, Any] | None
    media: dict[str, bool] | None


@dataclass(frozen=True, slots=True)
class Path:
    """``path`` (extension): how this client's connection to ``peer_id`` goes."""

    peer_id: str
    relay: bool
    #: How a relaying connection reaches its TURN server (``udp``, ``tcp``, ``tls``); ``""`` direct or unknown.
    protocol: str


@dataclass(frozen=True, slots=True)
class ConnectionTestRequest:
    """``connection-test`` (extension): the ICE servers a connection test should try."""


@dataclass(frozen=True, slots=True)
class ConnectionReport:
    """``connection-report`` (extension): a connection test's results, each check normalized (its known fields,
    in the order of ``CONNECTION_CHECKS``). Whether the test passed is the server's to say, not the client's."""

    checks: list[dict[str, Any]]

    @property
    def passed(self) -> bool:
        return all(check["status"] != "fail" for check in self.checks)


@dataclass(frozen=True, slots=True)
class SfuPublish:
    """``sfu-publish`` (extension, SFU rooms): the offer of the client's publishing connection; ``fresh``: of a new
    connection that replaces the one published (a client that cannot restart ICE on a live one: aiortc)."""

    description: dict[str, Any]
    fresh: bool = False


@dataclass(frozen=True, slots=True)
class SfuSubscribed:
    """``sfu-subscribed`` (extension, SFU rooms): the client's answer to the last ``sfu-subscription``."""

    description: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SfuIce:
    """``sfu-ice`` (extension, SFU rooms): an ICE candidate of the client's ``publisher`` or ``subscriber``
    connection (None: that connection has gathered them all)."""

    target: str
    candidate: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class SfuRestart:
    """``sfu-restart`` (extension, SFU rooms): ask the SFU for an ICE restart of the client's subscribing
    connection (a fresh offer, as ``sfu-subscription``): it relays through TURN and has fresh credentials.
    ``fresh``: an offer for a new connection instead (a client that cannot restart ICE on a live one: aiortc)."""

    fresh: bool = False


@dataclass(frozen=True, slots=True)
class SfuQuality:
    """``sfu-quality`` (extension, SFU rooms): which layer of ``peer_id``'s simulcast video the client wants, for
    the size its tile is shown at: ``high``, ``medium``, ``low``, or ``off`` (the tile is hidden: no video)."""

    peer_id: str
    quality: str


@dataclass(frozen=True, slots=True)
class SfuMoveTaken:
    """``sfu-move-taken`` (extension, SFU rooms): the client took the last ``sfu-moved``: its connections with the
    old SFU node are closed, and what it sends from here on is of its new ones."""


@dataclass(frozen=True, slots=True)
class Data:
    """``data`` (extension, SFU rooms): a data-channel message on ``label`` for ``to`` (None: everyone else),
    relayed by the server: ``text``, or ``binary`` in base64."""

    to: str | None
    label: str
    text: str | None
    binary: str | None


ClientFrame = (
    Join
    | Leave
    | Sdp
    | Ice
    | Ping
    | Update
    | Path
    | ConnectionTestRequest
    | ConnectionReport
    | SfuPublish
    | SfuSubscribed
    | SfuIce
    | SfuRestart
    | SfuQuality
    | SfuMoveTaken
    | Data
)


class InvalidJoin(SignalingError):
    """A ``join`` refused for its shape: what it asked for (``requested_room``, printable) is kept for the
    ``JoinRejected`` event, like that of a join refused later."""

    def __init__(self, code: ErrorCode, message: str, requested_room: str | None) -> None:
        super().__init__(code, message)
        self.requested_room = requested_room


# -- parsing -----------------------------------------------------------------------------------------------------


def parse_client_frame(text: str, max_metadata_bytes: int) -> ClientFrame:
    """The frame ``text`` holds; raise ``SignalingError`` (``InvalidJoin`` for a join) for one that is not valid.

    ``max_metadata_bytes`` bounds the metadata a ``join`` or ``update`` carries (``SIGNALING["MAX_METADATA_BYTES"]``).
    """
    kind, message = parse(text)
    parser = PARSERS.get(kind)
    if parser is None:
        raise SignalingError(ErrorCode.UNKNOWN_TYPE, unknown_type_message(kind))
    return parser(message, max_metadata_bytes)


def _join(message: dict[str, Any], max_metadata_bytes: int) -> Join:
    try:
        return Join(
            room_id=_room_id(message),
            token=message.get("token"),
            resume=message.get("resume"),
            metadata=metadata_of(message["metadata"], max_metadata_bytes) if "metadata" in message else None,
            media=media_of(message["media"]) if "media" in message else None,
            capabilities=_capabilities(message),
        )
    except SignalingError as error:
        requested = message.get("roomId")
        raise InvalidJoin(
            error.code, error.message, printable(requested) if isinstance(requested, str) else None
        ) from None


def _leave(message: dict[str, Any], max_metadata_bytes: int) -> Leave:
    return LEAVE


def _sdp(message: dict[str, Any], max_metadata_bytes: int) -> Sdp:
    return Sdp(_recipient(message), _description(message))


def _ice(message: dict[str, Any], max_metadata_bytes: int) -> Ice:
    return Ice(_recipient(message), _candidate(message))


def _ping(message: dict[str, Any], max_metadata_bytes: int) -> Ping:
    ts = message.get("ts")
    if ts is None:
        return PING
    if isinstance(ts, (int, float)) and not isinstance(ts, bool) and math.isfinite(ts):
        if abs(ts) <= MAX_PING_TIMESTAMP:
            return Ping(ts)
    raise SignalingError(ErrorCode.INVALID_MESSAGE, INVALID_FORMAT)


def _update(message: dict[str, Any], max_metadata_bytes: int) -> Update:
    metadata = metadata_of(message["metadata"], max_metadata_bytes) if "metadata" in message else None
    media = media_of(message["media"]) if "media" in message else None
    if metadata is None and media is None:
        raise SignalingError(ErrorCode.INVALID_MESSAGE, UPDATE_EMPTY)
    return Update(metadata, media)


def _path(message: dict[str, Any], max_metadata_bytes: int) -> Path:
    peer_id, relay, protocol = message.get("peerId"), message.get("relay"), message.get("protocol", "")
    if not isinstance(peer_id, str) or not 0 < len(peer_id) <= MAX_PATH_PEER_ID or not isinstance(relay, bool):
        raise SignalingError(ErrorCode.INVALID_MESSAGE, INVALID_PATH)
    if protocol != "" and (not relay or protocol not in RELAY_PROTOCOLS):
        raise SignalingError(ErrorCode.INVALID_MESSAGE, INVALID_PATH)
    return Path(peer_id, relay, protocol)


def _connection_test(message: dict[str, Any], max_metadata_bytes: int) -> ConnectionTestRequest:
    return CONNECTION_TEST_REQUEST


def _connection_report(message: dict[str, Any], max_metadata_bytes: int) -> ConnectionReport:
    report = message.get("report")
    checks = report.get("checks") if isinstance(report, dict) else None
    if not isinstance(checks, list) or not 0 < len(checks) <= len(CONNECTION_CHECKS):
        raise SignalingError(ErrorCode.INVALID_MESSAGE, INVALID_REPORT)
    by_id: dict[str, dict[str, Any]] = {}
    for check in checks:
        normalized = _check(check)
        if normalized["id"] in by_id:
            raise SignalingError(ErrorCode.INVALID_MESSAGE, INVALID_REPORT)
        by_id[normalized["id"]] = normalized
    return ConnectionReport([by_id[check_id] for check_id in CONNECTION_CHECKS if check_id in by_id])


def _sfu_publish(message: dict[str, Any], max_metadata_bytes: int) -> SfuPublish:
    description = _description(message)
    if description["type"] != "offer":
        raise SignalingError(ErrorCode.INVALID_MESSAGE, INVALID_DESCRIPTION)
    return SfuPublish(description, _fresh(message))


def _sfu_subscribed(message: dict[str, Any], max_metadata_bytes: int) -> SfuSubscribed:
    description = _description(message)
    if description["type"] != "answer":
        raise SignalingError(ErrorCode.INVALID_MESSAGE, INVALID_DESCRIPTION)
    return SfuSubscribed(description)


def _sfu_ice(message: dict[str, Any], max_metadata_bytes: int) -> SfuIce:
    target = message.get("target")
    if target not in SFU_TARGETS:
        raise SignalingError(ErrorCode.INVALID_MESSAGE, INVALID_SFU_TARGET)
    return SfuIce(target, None if message.get("candidate") is None else _candidate(message))


def _sfu_restart(message: dict[str, Any], max_metadata_bytes: int) -> SfuRestart:
    return SfuRestart(_fresh(message))


def _sfu_quality(message: dict[str, Any], max_metadata_bytes: int) -> SfuQuality:
    peer_id, quality = message.get("peerId"), message.get("quality")
    if not isinstance(peer_id, str) or not peer_id or quality not in SFU_QUALITIES:
        raise SignalingError(ErrorCode.INVALID_MESSAGE, INVALID_SFU_QUALITY)
    return SfuQuality(peer_id, str(quality))


def _sfu_move_taken(message: dict[str, Any], max_metadata_bytes: int) -> SfuMoveTaken:
    return SfuMoveTaken()


def _fresh(message: dict[str, Any]) -> bool:
    fresh = message.get("fresh", False)
    if not isinstance(fresh, bool):
        raise SignalingError(ErrorCode.INVALID_MESSAGE, INVALID_FRESH)
    return fresh


def _data(message: dict[str, Any], max_metadata_bytes: int) -> Data:
    label, text, binary = message.get("label"), message.get("text"), message.get("binary")
    if not isinstance(label, str) or not 0 < len(label) <= MAX_LABEL:
        raise SignalingError(ErrorCode.INVALID_MESSAGE, INVALID_DATA)
    if (text is None) == (binary is None) or not isinstance(text if binary is None else binary, str):
        raise SignalingError(ErrorCode.INVALID_MESSAGE, INVALID_DATA)
    return Data(_recipient(message), label, text, binary)


#: Each client frame's ``t`` and its parser. A table: a frame not in it is refused (``unknown-type``).
PARSERS: Mapping[str, Callable[[dict[str, Any], int], ClientFrame]] = {
    "join": _join,
    "leave": _leave,
    "sdp": _sdp,
    "ice": _ice,
    "ping": _ping,
    "update": _update,
    "path": _path,
    "connection-test": _connection_test,
    "connection-report": _connection_report,
    "sfu-publish": _sfu_publish,
    "sfu-subscribed": _sfu_subscribed,
    "sfu-ice": _sfu_ice,
    "sfu-restart": _sfu_restart,
    "sfu-quality": _sfu_quality,
    "sfu-move-taken": _sfu_move_taken,
    "data": _data,
}

# The frames without fields are all alike: one instance each.
LEAVE = Leave()
PING = Ping()
CONNECTION_TEST_REQUEST = ConnectionTestRequest()


# -- fields ------------------------------------------------------------------------------------------------------


def _room_id(message: dict[str, Any]) -> str:
    room_id = message.get("roomId")
    if not isinstance(room_id, str) or not is_valid_room_id(room_id):
        raise SignalingError(ErrorCode.INVALID_ROOM, INVALID_ROOM_ID)
    return room_id


def _capabilities(message: dict[str, Any]) -> frozenset[str]:
    """A join's ``capabilities``: the ones this server knows of those it names (any others are ignored)."""
    named = message.get("capabilities", [])
    if not isinstance(named, list) or len(named) > MAX_CAPABILITIES or not all(isinstance(c, str) for c in named):
        raise SignalingError(ErrorCode.INVALID_MESSAGE, INVALID_CAPABILITIES)
    return frozenset(named) & CAPABILITIES


def _recipient(message: dict[str, Any]) -> str | None:
    """The optional ``to`` of a relayed frame: a peer id, or None for everyone else in the room."""
    to = message.get("to")
    if to is None or isinstance(to, str):
        return to
    raise SignalingError(ErrorCode.INVALID_MESSAGE, INVALID_FORMAT)


def _description(message: dict[str, Any]) -> dict[str, Any]:
    description = message.get("description")
    if not isinstance(description, dict):
        raise SignalingError(ErrorCode.INVALID_MESSAGE, INVALID_DESCRIPTION)
    kind = description.get("type")
    sdp = description.get("sdp")
    if kind not in DESCRIPTION_TYPES or not (sdp is None or isinstance(sdp, str)):
        raise SignalingError(ErrorCode.INVALID_MESSAGE, INVALID_DESCRIPTION)
    return {"type": kind} if sdp is None else {"type": kind, "sdp": sdp}


_CANDIDATE_FIELDS = {
    "candidate": (str,),
    "sdpMid": (str, type(None)),
    "sdpMLineIndex": (int, type(None)),
    "usernameFragment": (str, type(None)),
}


def _candidate(message: dict[str, Any]) -> dict[str, Any]:
    candidate = message.get("candidate")
    if not isinstance(candidate, dict) or not isinstance(candidate.get("candidate"), str):
        raise SignalingError(ErrorCode.INVALID_MESSAGE, INVALID_CANDIDATE)
    cleaned: dict[str, Any] = {}
    for name, types in _CANDIDATE_FIELDS.items():
        if name in candidate:
            value = candidate[name]
            # bool is an int subclass; an sdpMLineIndex of true is not an index.
            if not isinstance(value, types) or isinstance(value, bool):
                raise SignalingError(ErrorCode.INVALID_MESSAGE, INVALID_CANDIDATE)
            cleaned[name] = value
    return cleaned


def _check(check: object) -> dict[str, Any]:
    """One check of a ``connection-report``, reduced to its known fields."""
    if not isinstance(check, dict):
        raise SignalingError(ErrorCode.INVALID_MESSAGE, INVALID_REPORT)
    check_id, status, text = check.get("id"), check.get("status"), check.get("message")
    if check_id not in CONNECTION_CHECKS or status not in CHECK_STATUSES:
        raise SignalingError(ErrorCode.INVALID_MESSAGE, INVALID_REPORT)
    if not isinstance(text, str) or len(text) > MAX_CHECK_MESSAGE:
        raise SignalingError(ErrorCode.INVALID_MESSAGE, INVALID_REPORT)
    normalized: dict[str, Any] = {"id": check_id, "status": status, "message": printable(text, MAX_CHECK_MESSAGE)}
    for field in ("ms", "rttMs"):
        if field in check:
            value = check[field]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise SignalingError(ErrorCode.INVALID_MESSAGE, INVALID_REPORT)
            if not 0 <= value <= MAX_CHECK_MILLISECONDS:
                raise SignalingError(ErrorCode.INVALID_MESSAGE, INVALID_REPORT)
            normalized[field] = round(float(value), 1)
    if "address" in check:
        address = check["address"]
        if not isinstance(address, str) or len(address) > MAX_CHECK_ADDRESS:
            raise SignalingError(ErrorCode.INVALID_MESSAGE, INVALID_REPORT)
        normalized["address"] = printable(address, MAX_CHECK_ADDRESS)
    return normalized
