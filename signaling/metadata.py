"""What peers tell each other about themselves: metadata (a name, say) and media state (muted, camera off,
sharing the screen), carried by ``join.metadata``, ``update`` and ``peer-updated`` (``docs/protocol.md``).

A peer's *state* is ``{"metadata": {...}, "media": {...}}`` with either part absent until it is given; the
registry keeps it with the peer's membership so that a late joiner finds everyone's in ``joined``. Validation
returns the cleaned value or raises ``SignalingError``; nothing here does I/O except the ``USER_METADATA`` hook.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from django.utils.module_loading import import_string

from signaling.conf import conf
from signaling.protocol import ErrorCode, PeerUpdatedFrame, SignalingError, encode, encode_json

logger = logging.getLogger(__name__)

PeerState = dict[str, Any]

#: The media a peer may announce, each on or off.
MEDIA_KINDS = ("audio", "video", "screen", "recording")
#: Longest name recorded on a peer's session (``metadata.name``).
DISPLAY_NAME_LENGTH = 150

METADATA_NOT_OBJECT = "metadata must be a JSON object"
MEDIA_NOT_VALID = "media must be an object of audio, video, screen and recording, each true or false"
UPDATE_EMPTY = "update needs metadata or media"


def metadata_too_large(limit: int) -> str:
    return f"metadata is too large (max {limit} bytes)"


def metadata_of(value: object, limit: int) -> dict[str, Any]:
    """A client's ``metadata``: a JSON object of at most ``limit`` bytes, encoded compactly."""
    if not isinstance(value, dict):
        raise SignalingError(ErrorCode.INVALID_MESSAGE, METADATA_NOT_OBJECT)
    if len(encode_json(value).encode()) > limit:
        raise SignalingError(ErrorCode.INVALID_MESSAGE, metadata_too_large(limit))
    return value


def media_of(value: object) -> dict[str, bool]:
    """A client's ``media``: any of ``audio``, ``video``, ``screen``, ``recording``, each a boolean; other keys are
    ignored."""
    if not isinstance(value, dict):
        raise SignalingError(ErrorCode.INVALID_MESSAGE, MEDIA_NOT_VALID)
    media: dict[str, bool] = {}
    for kind in MEDIA_KINDS:
        if kind in value:
            if not isinstance(value[kind], bool):
                raise SignalingError(ErrorCode.INVALID_MESSAGE, MEDIA_NOT_VALID)
            media[kind] = value[kind]
    return media


def display_name(metadata: dict[str, Any] | None) -> str:
    """The name a peer goes by (``metadata.name``), cut to what the log keeps; "" when it gave none."""
    name = (metadata or {}).get("name")
    return name.strip()[:DISPLAY_NAME_LENGTH] if isinstance(name, str) else ""


def user_metadata(user: Any) -> dict[str, Any]:
    """The default ``SIGNALING["USER_METADATA"]``: a logged-in user goes by their full name, else their user
    name."""
    full_name = user.get_full_name() if hasattr(user, "get_full_name") else ""
    return {"name": (full_name or user.get_username())[:DISPLAY_NAME_LENGTH]}


def vouched_metadata(user: Any) -> dict[str, Any]:
    """What the server vouches for about ``user`` (``SIGNALING["USER_METADATA"]``; runs in a thread, it may use
    the ORM): these fields replace the client's own on join and on every update. {} when no hook is set; a hook
    that fails or answers something that is not a small JSON object is logged and vouches for nothing."""
    path = conf.USER_METADATA
    if not path or user is None:
        return {}
    try:
        hook: Callable[[Any], Any] = import_string(path)
        vouched = hook(user)
        if not isinstance(vouched, dict):
            raise TypeError(f"it returned {type(vouched).__name__}, not a dict")
        json.dumps(vouched)
    except Exception:
        logger.exception("SIGNALING['USER_METADATA'] failed for user %s; the client's metadata is used", user.pk)
        return {}
    return vouched


def merged_state(
    state: PeerState, metadata: dict[str, Any] | None, media: dict[str, bool] | None, vouched: dict[str, Any]
) -> PeerState:
    """``state`` with a new ``metadata`` (the vouched fields over the client's) and ``media`` (merged into what was
    announced before); the parts not given are kept."""
    new = dict(state)
    if metadata is not None:
        new["metadata"] = {**metadata, **vouched}
    elif vouched and "metadata" not in new:
        new["metadata"] = dict(vouched)
    if media is not None:
        new["media"] = {**new.get("media", {}), **media}
    return new


def states_fields(states: dict[str, PeerState]) -> dict[str, Any]:
    """The ``joined`` fields for the members' states: ``metadata`` and ``media``, each a map of peer id to value
    (a peer appears in a map once it gave that part)."""
    return {
        "metadata": {peer_id: s["metadata"] for peer_id, s in states.items() if "metadata" in s},
        "media": {peer_id: s["media"] for peer_id, s in states.items() if "media" in s},
    }


def peer_updated_frame(peer_id: str, metadata: dict[str, Any] | None, media: dict[str, bool] | None) -> str:
    frame: PeerUpdatedFrame = {"t": "peer-updated", "peerId": peer_id}
    if metadata is not None:
        frame["metadata"] = metadata
    if media is not None:
        frame["media"] = media
    return encode(frame)


def encode_state(state: PeerState) -> str:
    return encode_json(state)


def decode_state(text: str) -> PeerState:
    try:
        state = json.loads(text)
    except ValueError:
        return {}
    return state if isinstance(state, dict) else {}
