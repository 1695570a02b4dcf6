"""Settings of the ``frontend`` app (the demo pages): the ``FRONTEND`` dict, read on access, with the defaults.

Set only what you change::

    FRONTEND = {"SIGNAL_PATH": "/calls/signal"}
"""

from __future__ import annotations

from typing import Any

from signaling.settings_dict import SettingsDict

DEFAULTS: dict[str, Any] = {
    # Where the pages' browser client opens its socket: the path the site mounts SignalingConsumer at (a path
    # resolves against the page), or a full ws://, wss://, http:// or https:// URL.
    "SIGNAL_PATH": "/api/call/signal",
}


class FrontendSettings(SettingsDict):
    """Typed accessors for ``settings.FRONTEND``; each falls back to its entry in ``DEFAULTS``."""

    setting = "FRONTEND"
    defaults = DEFAULTS

    @property
    def SIGNAL_PATH(self) -> str:
        return str(self._get("SIGNAL_PATH"))


conf = FrontendSettings()
