"""Janus's events about our peers' connections with it, as its HTTP event handler (``sampleevh``, configured by
``janus_config`` with ``--events-url``) posts them to ``/sfu/events``: which of them reach the lifecycle log, and how
a handle tells whose it is.

Every handle a worker attaches is labelled (Janus's ``opaque_id``) with our room id, our peer id and which of the
peer's two connections it is; Janus repeats the label in each event about the handle, so any worker can tell whose
connection an event is about without asking anyone. Of all Janus emits, four things are kept, per connection:

- ``media-up``: Janus receives the publisher's audio or video (``receiving: true``), or the subscriber's
  connection is up (``webrtcup``: Janus sends it media);
- ``media-lost``: Janus stopped receiving the publisher's audio or video (``receiving: false``);
- ``slow-link``: Janus saw many packets lost on the connection (``uplink``: from the peer, ``downlink``: to it);
- ``hangup``: the connection was hung up (the reason Janus gives: ``DTLS alert``, ``ICE failed``, ...).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

#: Janus's event types (janus/events.h).
WEBRTC_EVENT = 16
MEDIA_EVENT = 32
MEDIA_SLOW_LINK = 2
#: Events read from one post at most (Janus groups a few at a time; the rest of a bigger post is dropped).
MAX_EVENTS_PER_POST = 1000
CONNECTIONS = ("publisher", "subscriber")


class SfuMediaKind(StrEnum):
    MEDIA_UP = "media-up"
    MEDIA_LOST = "media-lost"
    SLOW_LINK = "slow-link"
    HANGUP = "hangup"


def handle_label(room_id: str, peer_id: str, connection: str) -> str:
    """The ``opaque_id`` of the handle of ``peer_id``'s ``connection`` (publisher, subscriber) in ``room_id``."""
    return json.dumps([room_id, peer_id, connection], separators=(",", ":"))


def read_label(value: object) -> tuple[str, str, str] | None:
    """(room id, peer id, connection) of a label ``handle_label`` made; None for anything else."""
    if not isinstance(value, str) or len(value) > 512:
        return None
    try:
        parts = json.loads(value)
    except ValueError:
        return None
    if not (isinstance(parts, list) and len(parts) == 3 and all(isinstance(part, str) for part in parts)):
        return None
    if parts[2] not in CONNECTIONS:
        return None
    return parts[0], parts[1], parts[2]


@dataclass(frozen=True, slots=True)
class SfuMediaReport:
    """What Janus said about one connection of one of our peers."""

    room_id: str
    peer_id: str
    connection: str
    kind: SfuMediaKind
    at: datetime
    #: "audio", "video", or "" (about the whole connection).
    media: str = ""
    #: ``slow-link``: {"direction", "lost"}; ``hangup``: {"reason"}.
    detail: dict[str, Any] = field(default_factory=dict)


def reports_of(body: object) -> list[SfuMediaReport]:
    """The reports in one post of Janus's event handler (one event, or a list of them); events of other kinds, or
    about handles that are not ours, are skipped."""
    events = body if isinstance(body, list) else [body]
    reports = []
    for event in events[:MAX_EVENTS_PER_POST]:
        if isinstance(event, dict) and (report := _report_of(event)) is not None:
            reports.append(report)
    return reports


def _report_of(event: dict[str, Any]) -> SfuMediaReport | None:
    label = read_label(event.get("opaque_id"))
    info = event.get("event")
    if label is None or not isinstance(info, dict):
        return None
    room_id, peer_id, connection = label
    kind: SfuMediaKind | None = None
    detail: dict[str, Any] = {}
    media = str(info["media"]) if info.get("media") in ("audio", "video") else ""
    if event.get("type") == WEBRTC_EVENT:
        if info.get("connection") == "hangup":
            kind, detail = SfuMediaKind.HANGUP, {"reason": str(info.get("reason", ""))[:200]}
        elif info.get("connection") == "webrtcup" and connection == "subscriber":
            kind = SfuMediaKind.MEDIA_UP
    elif event.get("type") == MEDIA_EVENT:
        if isinstance(info.get("receiving"), bool):
            kind = SfuMediaKind.MEDIA_UP if info["receiving"] else SfuMediaKind.MEDIA_LOST
        elif event.get("subtype") == MEDIA_SLOW_LINK or "slow_link" in info:
            lost = info.get("lost_lastsec", info.get("lost"))
            kind = SfuMediaKind.SLOW_LINK
            detail = {
                "direction": str(info.get("slow_link", ""))[:20],
                "lost": lost if isinstance(lost, int) and not isinstance(lost, bool) else None,
            }
    if kind is None:
        return None
    return SfuMediaReport(room_id, peer_id, connection, kind, _at(event.get("timestamp")), media, detail)


def _at(timestamp: object) -> datetime:
    """Janus's timestamps are microseconds since the epoch."""
    if isinstance(timestamp, int) and not isinstance(timestamp, bool) and 0 < timestamp < 2**53:
        return datetime.fromtimestamp(timestamp / 1e6, UTC)
    return datetime.now(UTC)
