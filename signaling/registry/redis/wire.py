"""The cross-worker wire: the notices one worker publishes to another's channel, one type per kind.

A pub/sub message is ``{"type": "signaling.deliver", "items": [...], "at": <when it was sent>}`` in the channel
layer's serialization; each item is one notice, a dict with short keys, since every frame relayed between workers
is one:

=============  ===========================================================  =========================================
kind           item                                                         meaning
=============  ===========================================================  =========================================
``ToPeer``     ``{"r": room, "to": peer, "f": frame, "fw": 1?}``            a frame for one peer (``fw``: forwarded
                                                                            once already, after a resume moved it)
``ToRoom``     ``{"r": room, "x": sender, "f": frame, "p": [peer, ...]}``   a frame for the room, to its members on
                                                                            that worker; ``p`` names those the
                                                                            sender took to be there (absent from
                                                                            older releases)
``Membership`` ``{"r": room, "x": peer, "op": [peer, worker, version],      ``peer`` arrived on ``worker`` (None: it
               "f": frame?}``                                               left), at ``version``; ``f`` is the
                                                                            frame to tell the members, if any
``Evict``      ``{"r": room, "ev": [peer, reason]}``                        close the sockets of the room's members
                                                                            there (of one, when ``peer`` is set)
=============  ===========================================================  =========================================

Senders build items with the functions below, receivers turn them into notices with ``decode``, which refuses
anything it cannot read (``UndecodableNotice``) rather than guess.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict


class ToPeerItem(TypedDict):
    r: str
    to: str
    f: str
    fw: NotRequired[int]


class ToRoomItem(TypedDict):
    r: str
    x: str
    f: str
    p: NotRequired[list[str]]


class MembershipItem(TypedDict):
    r: str
    x: str
    op: list[Any]
    f: NotRequired[str]


class EvictItem(TypedDict):
    r: str
    ev: list[str | None]


Item = ToPeerItem | ToRoomItem | MembershipItem | EvictItem


@dataclass(frozen=True, slots=True)
class ToPeer:
    room_id: str
    peer_id: str
    frame: str
    forwarded: bool = False


@dataclass(frozen=True, slots=True)
class ToRoom:
    room_id: str
    sender_id: str
    frame: str
    #: The members the sender took to be on the receiving worker; None from a release that does not say.
    recipients: tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class Membership:
    room_id: str
    peer_id: str
    #: The worker it is on now; None once it left; ``PARKED`` while it waits for a resume.
    worker: str | None
    version: int
    frame: str | None


@dataclass(frozen=True, slots=True)
class Evict:
    room_id: str
    peer_id: str | None
    reason: str


Notice = ToPeer | ToRoom | Membership | Evict


class UndecodableNotice(ValueError):
    """An item of no kind this release knows, or of a known kind with fields it cannot read."""


def to_peer(room_id: str, peer_id: str, frame: str, forwarded: bool = False) -> ToPeerItem:
    item: ToPeerItem = {"r": room_id, "to": peer_id, "f": frame}
    if forwarded:
        item["fw"] = 1
    return item


def to_room(room_id: str, sender_id: str, frame: str, recipients: Sequence[str]) -> ToRoomItem:
    return {"r": room_id, "x": sender_id, "f": frame, "p": list(recipients)}


def membership(room_id: str, peer_id: str, worker: str | None, version: int, frame: str | None) -> MembershipItem:
    item: MembershipItem = {"r": room_id, "x": peer_id, "op": [peer_id, worker, version]}
    if frame is not None:
        item["f"] = frame
    return item


def evict(room_id: str, peer_id: str | None, reason: str) -> EvictItem:
    return {"r": room_id, "ev": [peer_id, reason]}


def frame_size(item: Mapping[str, Any]) -> int:
    """Characters of frame an item carries: what an outbox's bound counts."""
    frame = item.get("f")
    return len(frame) if isinstance(frame, str) else 0


def _text(item: Mapping[str, Any], key: str) -> str:
    value = item.get(key)
    if not isinstance(value, str):
        raise UndecodableNotice(f"notice field {key!r} is not a string: {item!r:.200}")
    return value


def decode(item: Any) -> Notice:
    """The notice an item carries."""
    if not isinstance(item, Mapping):
        raise UndecodableNotice(f"a notice is a mapping, not {type(item).__name__}")
    room_id = _text(item, "r")
    if "ev" in item:
        target = item["ev"]
        if not (
            isinstance(target, list)
            and len(target) == 2
            and isinstance(target[1], str)
            and (target[0] is None or isinstance(target[0], str))
        ):
            raise UndecodableNotice(f"bad eviction: {item!r:.200}")
        return Evict(room_id, target[0], target[1])
    if "to" in item:
        return ToPeer(room_id, _text(item, "to"), _text(item, "f"), bool(item.get("fw")))
    if "op" in item:
        op = item["op"]
        if not (
            isinstance(op, list)
            and len(op) == 3
            and isinstance(op[0], str)
            and (op[1] is None or isinstance(op[1], str))
            and isinstance(op[2], int)
        ):
            raise UndecodableNotice(f"bad membership change: {item!r:.200}")
        frame = item.get("f")
        if frame is not None and not isinstance(frame, str):
            raise UndecodableNotice(f"bad membership frame: {item!r:.200}")
        return Membership(room_id, op[0], op[1], op[2], frame)
    if "x" in item and "f" in item:
        recipients = item.get("p")
        if recipients is not None and not (
            isinstance(recipients, list) and all(isinstance(peer, str) for peer in recipients)
        ):
            raise UndecodableNotice(f"bad recipients: {item!r:.200}")
        return ToRoom(
            room_id, _text(item, "x"), _text(item, "f"), tuple(recipients) if recipients is not None else None
        )
    raise UndecodableNotice(f"a notice of no known kind: {item!r:.200}")
