"""System checks for the ``FRONTEND`` settings (``manage.py check``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register

from frontend.conf import DEFAULTS

_URL_SCHEMES = ("ws://", "wss://", "http://", "https://")


@register(Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    user_settings = getattr(settings, "FRONTEND", {})
    if not isinstance(user_settings, Mapping):
        return [Error("FRONTEND must be a dict.", id="frontend.E001")]
    errors: list[CheckMessage] = []
    unknown = sorted(set(user_settings) - set(DEFAULTS))
    if unknown:
        errors.append(Error(f"FRONTEND has unknown keys: {', '.join(unknown)}.",
                            hint=f"Known keys: {', '.join(sorted(DEFAULTS))}.", id="frontend.E002"))
    path = user_settings.get("SIGNAL_PATH", DEFAULTS["SIGNAL_PATH"])
    if not isinstance(path, str) or not (path.startswith("/") or path.startswith(_URL_SCHEMES)):
        errors.append(Error(
            f"FRONTEND['SIGNAL_PATH'] must be a path beginning with / or a ws://, wss://, http:// or https:// URL, "
            f"not {path!r}.", hint="The path the site mounts SignalingConsumer.as_asgi() at.", id="frontend.E003",
        ))
    return errors
