"""Settings of the ``frontend`` app (the demo pages): the ``FRONTEND`` dict, read on access, with the defaults.

Set only what you change::

    FRONTEND = {"SIGNAL_PATH": "/calls/signal"}
"""

from __future__ import annotations

from signaling.settings_dict import Setting, SettingsDict, Url


class FrontendSettings(SettingsDict):
    """``settings.FRONTEND``: each key with its default and what values it takes; on ``conf``, its typed value."""

    setting = "FRONTEND"
    app = "frontend"
    # Where the pages' browser client opens its socket: the path the site mounts SignalingConsumer at (a path
    # resolves against the page), or a full ws://, wss://, http:// or https:// URL.
    SIGNAL_PATH = Setting(
        "/api/call/signal",
        Url(
            "E003",
            ("ws://", "wss://", "http://", "https://"),
            paths=True,
            hint="The path the site mounts SignalingConsumer.as_asgi() at.",
        ),
    )


conf = FrontendSettings()
DEFAULTS = FrontendSettings.defaults
