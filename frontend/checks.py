"""System checks for the ``FRONTEND`` settings (``manage.py check``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.checks import CheckMessage, Error

from frontend.conf import DEFAULTS
from signaling.settings_dict import settings_check

_URL_SCHEMES = ("ws://", "wss://", "http://", "https://")


@settings_check("FRONTEND", DEFAULTS, "frontend")
def check_settings(user_settings: Mapping[str, Any]) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    path = user_settings.get("SIGNAL_PATH", DEFAULTS["SIGNAL_PATH"])
    if not isinstance(path, str) or not (path.startswith("/") or path.startswith(_URL_SCHEMES)):
        errors.append(
            Error(
                f"FRONTEND['SIGNAL_PATH'] must be a path beginning with / or a ws://, wss://, http:// or https:// URL, "
                f"not {path!r}.",
                hint="The path the site mounts SignalingConsumer.as_asgi() at.",
                id="frontend.E003",
            )
        )
    return errors
