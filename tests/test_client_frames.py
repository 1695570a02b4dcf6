"""The client's frames as typed values (``signaling.client_frames``): one parser per frame of docs/protocol.md, each
giving its own type with its fields checked and reduced, and a join refused for its shape still naming its room."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from signaling.client_frames import (
    PARSERS,
    ConnectionReport,
    ConnectionTestRequest,
    Ice,
    InvalidJoin,
    Join,
    Leave,
    Ping,
    Sdp,
    SfuPublish,
    SfuQuality,
    SfuRestart,
    Update,
    parse_client_frame,
)
from signaling.protocol import ErrorCode, SignalingError

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 1024


def frame_of(message: dict[str, Any]) -> object:
    return parse_client_frame(json.dumps(message), LIMIT)


def test_every_client_frame_of_the_protocol_has_a_parser_and_no_other() -> None:
    documented = set(re.findall(r"^\| C→S \| `([a-z-]+)` \|", (ROOT / "docs" / "protocol.md").read_text(), re.M))
    assert documented == set(PARSERS)


def test_each_frame_is_its_own_type() -> None:
    assert frame_of({"t": "join", "roomId": "r1"}) == Join("r1")
    assert frame_of({"t": "leave"}) == Leave()
    assert frame_of({"t": "ping", "ts": 12.5}) == Ping(12.5)
    assert frame_of({"t": "ping"}) == Ping(None)
    assert frame_of({"t": "update", "media": {"audio": False}}) == Update(None, {"audio": False})
    assert frame_of({"t": "connection-test"}) == ConnectionTestRequest()
    report = frame_of(
        {"t": "connection-report", "report": {"checks": [{"id": "stun", "status": "fail", "message": "x"}]}}
    )
    assert isinstance(report, ConnectionReport)
    assert report.passed is False
    assert frame_of({"t": "sfu-restart"}) == SfuRestart(fresh=False)
    assert frame_of({"t": "sfu-restart", "fresh": True}) == SfuRestart(fresh=True)
    assert frame_of({"t": "sfu-quality", "peerId": "p", "quality": "low"}) == SfuQuality("p", "low")
    offer = {"type": "offer", "sdp": "v=0"}
    assert frame_of({"t": "sfu-publish", "description": offer}) == SfuPublish(offer, fresh=False)
    assert frame_of({"t": "sfu-publish", "description": offer, "fresh": True}) == SfuPublish(offer, fresh=True)


def test_relayed_frames_keep_only_the_protocols_fields() -> None:
    sdp = frame_of({"t": "sdp", "to": "p", "from": "forged", "description": {"type": "offer", "sdp": "v=0", "x": 1}})
    assert sdp == Sdp("p", {"type": "offer", "sdp": "v=0"})
    ice = frame_of({"t": "ice", "candidate": {"candidate": "c", "sdpMid": "0", "extra": [1]}})
    assert ice == Ice(None, {"candidate": "c", "sdpMid": "0"})


def test_a_join_names_only_the_capabilities_this_server_knows() -> None:
    join = frame_of({"t": "join", "roomId": "r1", "capabilities": ["sfu", "telepathy"]})
    assert isinstance(join, Join)
    assert join.capabilities == frozenset({"sfu"})


def test_a_join_carries_what_it_brings() -> None:
    join = frame_of({"t": "join", "roomId": "r1", "token": "tok", "resume": "res", "metadata": {"name": "Ada"}})
    assert join == Join("r1", token="tok", resume="res", metadata={"name": "Ada"})


@pytest.mark.parametrize(
    ("message", "code", "room"),
    [
        ({"t": "join", "roomId": ".."}, ErrorCode.INVALID_ROOM, ".."),
        ({"t": "join"}, ErrorCode.INVALID_ROOM, None),
        ({"t": "join", "roomId": "r1", "metadata": "Ada"}, ErrorCode.INVALID_MESSAGE, "r1"),
        ({"t": "join", "roomId": "r1", "metadata": {"n": "x" * 2000}}, ErrorCode.INVALID_MESSAGE, "r1"),
        ({"t": "join", "roomId": "r1", "media": {"audio": "yes"}}, ErrorCode.INVALID_MESSAGE, "r1"),
    ],
)
def test_a_join_refused_for_its_shape_names_the_room_it_asked_for(
    message: dict[str, Any], code: ErrorCode, room: str | None
) -> None:
    with pytest.raises(InvalidJoin) as refused:
        frame_of(message)
    assert refused.value.code == code
    assert refused.value.requested_room == room


@pytest.mark.parametrize(
    "message",
    [
        {"t": "sdp", "description": {"type": "offer"}, "to": 5},
        {"t": "sdp", "description": {"type": "bogus"}},
        {"t": "ice", "candidate": {"candidate": "c", "sdpMLineIndex": True}},
        {"t": "ping", "ts": "now"},
        {"t": "ping", "ts": 2**70},
        {"t": "update"},
        {"t": "path", "peerId": "p", "relay": False, "protocol": "udp"},
        {"t": "connection-report", "report": {"checks": []}},
        {"t": "join", "roomId": "r1", "capabilities": "sfu"},
        {"t": "join", "roomId": "r1", "capabilities": [1]},
        {"t": "sfu-publish", "description": {"type": "answer", "sdp": "v=0"}},
        {"t": "sfu-subscribed", "description": {"type": "offer", "sdp": "v=0"}},
        {"t": "sfu-ice", "target": "both", "candidate": None},
        {"t": "sfu-publish", "description": {"type": "offer", "sdp": "v=0"}, "fresh": "yes"},
        {"t": "sfu-restart", "fresh": 1},
        {"t": "sfu-quality", "peerId": "p", "quality": "ultra"},
        {"t": "sfu-quality", "peerId": "", "quality": "low"},
        {"t": "sfu-quality", "quality": "low"},
        {"t": "sfu-quality", "peerId": "p", "quality": 0},
        {"t": "data", "label": "", "text": "x"},
        {"t": "data", "label": "chat", "text": "x", "binary": "AA=="},
        {"t": "data", "label": "chat"},
        {"t": "data", "label": "chat", "text": 5},
    ],
)
def test_bad_fields_are_refused_as_invalid_messages(message: dict[str, Any]) -> None:
    with pytest.raises(SignalingError) as refused:
        frame_of(message)
    assert refused.value.code == ErrorCode.INVALID_MESSAGE
    assert isinstance(refused.value, InvalidJoin) == (message["t"] == "join")


def test_an_unknown_type_is_refused_by_name() -> None:
    with pytest.raises(SignalingError) as refused:
        frame_of({"t": "handle_join"})
    assert refused.value.code == ErrorCode.UNKNOWN_TYPE
