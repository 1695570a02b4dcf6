"""System checks for using the ``rooms`` app with the signaling endpoint."""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Tags, Warning, register
from django.utils.module_loading import import_string

from signaling.conf import conf


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
