"""System checks for using the ``rooms`` app with the signaling endpoint."""

from __future__ import annotations

from collections.abc import Mapping
from numbers import Real
from typing import Any

from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.utils.module_loading import import_string

from rooms.conf import DEFAULTS
from signaling.conf import conf
from signaling.settings_dict import settings_check


@register(Tags.compatibility)
def check_resolver(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    from rooms.resolver import ModelRoomResolver

    try:
        resolver = import_string(conf.ROOM_RESOLVER)
    except ImportError:
        return []  # signaling.E004 reports it
    if isinstance(resolver, type) and issubclass(resolver, ModelRoomResolver):
        return []
    return [
        Warning(
            "The rooms app is installed but the signaling endpoint does not consult it: closed rooms still admit "
            "peers and a room's max peers is ignored.",
            hint="Set SIGNALING = {'ROOM_RESOLVER': 'rooms.resolver.ModelRoomResolver', ...}.",
            id="rooms.W001",
        )
    ]


_POSITIVE_INTEGERS = (
    "RECORDING_MAX_BYTES",
    "RECORDING_CHUNK_MAX_BYTES",
    "AUTH_FAILURES_PER_ADDRESS",
    "AUTH_FAILURE_WINDOW",
    "LOG_BUFFER_RECORDS",
    "ADMIN_LOG_ROWS",
)
_DAYS_OR_NONE = ("LOG_RETENTION_DAYS", "AD_HOC_ROOM_RETENTION_DAYS")


@settings_check("ROOMS", DEFAULTS, "rooms")
def check_settings(user_settings: Mapping[str, Any]) -> list[CheckMessage]:
    """The ``ROOMS`` dict: one check id per kind of problem."""
    errors: list[CheckMessage] = []
    for name in _POSITIVE_INTEGERS:
        value = user_settings.get(name, DEFAULTS[name])
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            errors.append(Error(f"ROOMS['{name}'] must be a positive integer, not {value!r}.", id="rooms.E003"))
    for name in _DAYS_OR_NONE:
        value = user_settings.get(name, DEFAULTS[name])
        if value is not None and (isinstance(value, bool) or not isinstance(value, Real) or not float(value) >= 0):
            errors.append(
                Error(f"ROOMS['{name}'] must be a number of days (0 or more) or None, not {value!r}.", id="rooms.E004")
            )
    return errors


@register(Tags.compatibility)
def check_api_extra(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The REST API (``rooms.urls``) needs Django REST framework and drf-spectacular: the ``api`` extra."""
    from django.conf import settings

    from signaling.checks import missing_modules

    missing = missing_modules("rest_framework", "drf_spectacular")
    if not missing:
        return []
    installed = [name for name in ("rest_framework", "drf_spectacular") if name in settings.INSTALLED_APPS]
    return [
        Warning(
            f"The rooms REST API (rooms.urls) needs {', '.join(missing)}, which is not installed"
            + (f" (yet {', '.join(installed)} is in INSTALLED_APPS)." if installed else "."),
            hint="Install the api extra: pip install 'django-rtc-signaling[api]', or leave rooms.urls out of your "
            "URLconf (the models, the recorder and the admin work without it).",
            id="rooms.W002",
        )
    ]
