"""Settings of the ``frontend`` app (the demo pages): the ``FRONTEND`` dict, read on access, with the defaults.

Set only what you change::

    FRONTEND = {"SIGNAL_PATH": "/calls/signal"}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # Where the pages' browser client opens its socket: the path the site mounts SignalingConsumer at (a path
    # resolves against the page), or a full ws://, wss://, http:// or https:// URL.
    "SIGNAL_PATH": "/api/call/signal",
}


class FrontendSettings:
    """Typed accessors for ``settings.FRONTEND``; each falls back to its entry in ``DEFAULTS``."""

    @property
    def user_settings(self) -> Mapping[str, Any]:
        value = getattr(settings, "FRONTEND", None)
        return value if isinstance(value, Mapping) else {}

    @property
    def SIGNAL_PATH(self) -> str:
        return str(self.user_settings.get("SIGNAL_PATH", DEFAULTS["SIGNAL_PATH"]))


conf = FrontendSettings()
