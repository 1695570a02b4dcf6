"""The wire protocol (``PROTOCOL.md``): error codes, the seed's error texts, field validation and frame encoding.

Validation returns the cleaned value or raises :class:`SignalingError`; nothing here does I/O.
"""

from __future__ import annotations

import json
import re
from enum import StrEnum
from typing import Any


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


class LeaveReason(StrEnum):
    """Why a peer left, as carried by ``peer-left.reason``."""

    DISCONNECT = "disconnect"
    LEAVE = "leave"
    KICKED = "kicked"
    TIMEOUT = "timeout"
    ROOM_CLOSED = "room-closed"


class CloseCode:
    """WebSocket close codes the server uses."""

    # The standard "service restart": this worker lost its registration; the client should reconnect.
    SERVICE_RESTART = 1012
    FORBIDDEN = 4001
    ORIGIN_NOT_ALLOWED = 4003
    RATE_LIMITED = 4008
    TOO_LARGE = 4009
    KICKED = 4010
    ROOM_CLOSED = 4011


#: The close code of a socket whose stay a moderator ended, by leave reason.
EVICTION_CLOSE_CODES = {LeaveReason.KICKED: CloseCode.KICKED, LeaveReason.ROOM_CLOSED: CloseCode.ROOM_CLOSED}


class SignalingError(Exception):
    """A client's message was refused: sent back as ``{"t": "error", "code", "message"}``."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def frame(self) -> str:
        return encode({"t": "error", "code": self.code.value, "message": self.message})


# The seed's texts, verbatim: clients written for the seed's server may match on them.
INVALID_JSON = "Invalid JSON"
INVALID_FORMAT = "Invalid message format"
INVALID_ROOM_ID = "Missing or invalid roomId"
INVALID_DESCRIPTION = "Missing or invalid description"
INVALID_CANDIDATE = "Missing or invalid candidate"
NOT_IN_A_ROOM = "Not in a room"

ROOM_ID_PATTERN = re.compile(r"[A-Za-z0-9_.:\-]{1,128}")
DESCRIPTION_TYPES = frozenset({"offer", "answer", "pranswer", "rollback"})

_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def encode(message: dict[str, Any]) -> str:
    """Serialize one outgoing message as a compact JSON text frame."""
    return _encoder.encode(message)


def peer_joined_frame(peer_id: str) -> str:
    return encode({"t": "peer-joined", "peerId": peer_id})


def peer_left_frame(peer_id: str, reason: str) -> str:
    return encode({"t": "peer-left", "peerId": peer_id, "reason": reason})


def closed_frame(reason: str) -> str:
    return encode({"t": "closed", "reason": reason})


def room_full_message(max_peers: int) -> str:
    return f"Room is full (max {max_peers} peers)"


def unknown_type_message(kind: str) -> str:
    return f"Unknown message type: {kind}"


def parse(text: str) -> tuple[str, dict[str, Any]]:
    """Decode a client frame into its ``t`` and the whole message."""
    try:
        message = json.loads(text)
    except ValueError:
        raise SignalingError(ErrorCode.INVALID_JSON, INVALID_JSON) from None
    if not isinstance(message, dict):
        raise SignalingError(ErrorCode.INVALID_MESSAGE, INVALID_FORMAT)
    kind = message.get("t")
    if not isinstance(kind, str):
        raise SignalingError(ErrorCode.INVALID_MESSAGE, INVALID_FORMAT)
    return kind, message


def is_valid_room_id(value: object) -> bool:
    return isinstance(value, str) and ROOM_ID_PATTERN.fullmatch(value) is not None


def room_id_of(message: dict[str, Any]) -> str:
    room_id = message.get("roomId")
    if not is_valid_room_id(room_id):
        raise SignalingError(ErrorCode.INVALID_ROOM, INVALID_ROOM_ID)
    assert isinstance(room_id, str)
    return room_id


def recipient_of(message: dict[str, Any]) -> str | None:
    """The optional ``to`` of a relayed message: a peer id, or None for everyone else in the room."""
    to = message.get("to")
    if to is None or isinstance(to, str):
        return to
    raise SignalingError(ErrorCode.INVALID_MESSAGE, INVALID_FORMAT)


def description_of(message: dict[str, Any]) -> dict[str, Any]:
    """The ``RTCSessionDescriptionInit`` of an ``sdp`` message, reduced to its two fields."""
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


def candidate_of(message: dict[str, Any]) -> dict[str, Any]:
    """The ``RTCIceCandidateInit`` of an ``ice`` message, reduced to its known fields."""
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


def ping_timestamp_of(message: dict[str, Any]) -> int | float | str | None:
    ts = message.get("ts")
    if ts is None or (isinstance(ts, (int, float, str)) and not isinstance(ts, bool)):
        return ts
    raise SignalingError(ErrorCode.INVALID_MESSAGE, INVALID_FORMAT)
