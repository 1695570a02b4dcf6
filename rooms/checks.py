"""System checks for using the ``rooms`` app with the signaling endpoint."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.checks import CheckMessage, Tags, Warning, register
from django.utils.module_loading import import_string

from rooms.conf import RoomsSettings
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


@settings_check(RoomsSettings)
def check_settings(user_settings: Mapping[str, Any]) -> list[CheckMessage]:
    """The ``ROOMS`` dict: each value by its kind (``rooms.conf``), one check id per kind of problem."""
    return []


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
