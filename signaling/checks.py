"""System checks for the ``SIGNALING`` settings (``manage.py check``). Each value is checked by its kind, where
``signaling.conf`` declares it; what is checked here is the settings taken together."""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

from signaling.conf import SignalingSettings, conf
from signaling.settings_dict import check_dict_shape, settings_check

# Daphne refuses WebSocket messages above this by default (--websocket_max_message_size).
DAPHNE_MAX_MESSAGE_BYTES = 1024 * 1024


@settings_check(SignalingSettings)
def check_settings(user_settings: Mapping[str, Any]) -> list[CheckMessage]:
    """``SIGNALING`` taken together, once each value is good on its own."""
    values = {**SignalingSettings.defaults, **user_settings}
    if bool(values["TURN_SECRET"]) != bool(values["TURN_URLS"]):
        return [
            Error(
                "SIGNALING['TURN_SECRET'] and SIGNALING['TURN_URLS'] go together: set both or neither.",
                id="signaling.E008",
            )
        ]
    if values["SFU_JANUS_URL"] and values["SFU_NODES"]:
        return [
            Error(
                "SIGNALING['SFU_JANUS_URL'] and SIGNALING['SFU_NODES'] both name Janus nodes: set one of them.",
                hint="SFU_JANUS_URL is the one node 'default'; with several, list them all in SFU_NODES.",
                id="signaling.E024",
            )
        ]
    sfu = [values["SFU_JANUS_URL"] or values["SFU_NODES"], values["SFU_API_SECRET"], values["SFU_ADMIN_KEY"]]
    if any(sfu) and not all(sfu):
        return [
            Error(
                "SIGNALING['SFU_JANUS_URL'] (or ['SFU_NODES']), SIGNALING['SFU_API_SECRET'] and "
                "SIGNALING['SFU_ADMIN_KEY'] go together: set all three or none.",
                hint="`manage.py janus_config` writes a Janus configuration with the same secret and key.",
                id="signaling.E020",
            )
        ]
    if SignalingSettings.value_problems(user_settings):
        return []  # reported by their kinds: what follows reads the values
    return _check_combinations()


@register(Tags.security)
def check_access_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Who may open the endpoint and who may read its metrics: tagged security (``manage.py check --deploy``)."""
    user_settings, shape = check_dict_shape(SignalingSettings.setting, SignalingSettings.defaults, "signaling")
    if shape:
        return []  # the settings check says it
    messages = SignalingSettings.value_problems(user_settings, security=True)
    values = {**SignalingSettings.defaults, **user_settings}
    origins = values["ALLOWED_ORIGINS"]
    if not messages and isinstance(origins, Sequence) and "*" in origins:
        messages.append(
            Warning(
                "SIGNALING['ALLOWED_ORIGINS'] contains \"*\": a page of any site may open signaling sockets to this "
                "one with its visitors' cookies.",
                hint="List the origins of your own front ends instead.",
                id="signaling.W003",
            )
        )
    if values["CONNECTION_TEST"] == "anyone" and values["ALLOW_AD_HOC_ROOMS"] is False and values["TURN_SECRET"]:
        messages.append(
            Warning(
                "SIGNALING['CONNECTION_TEST'] is \"anyone\" while only stored rooms can be joined: visitors who may "
                "join no room still get TURN credentials, for a connection test.",
                hint='Set CONNECTION_TEST to "authenticated" (or "off").',
                id="signaling.W004",
            )
        )
    return messages


def missing_modules(*names: str) -> list[str]:
    """Which of these top-level modules cannot be imported here (an extra that is not installed)."""
    return [name for name in names if importlib.util.find_spec(name) is None]


def _check_combinations() -> list[CheckMessage]:
    from signaling.policy import get_room_resolver
    from signaling.registry import IN_PROCESS_REGISTRY, REDIS_REGISTRY, registry_path

    messages: list[CheckMessage] = []
    if not conf.ALLOW_AD_HOC_ROOMS and not get_room_resolver().stores_rooms:
        messages.append(
            Error(
                "SIGNALING['ALLOW_AD_HOC_ROOMS'] is False but the ROOM_RESOLVER stores no rooms: no join can succeed.",
                hint="Set ROOM_RESOLVER to 'rooms.resolver.ModelRoomResolver', or allow ad-hoc rooms.",
                id="signaling.E006",
            )
        )
    layer = getattr(settings, "CHANNEL_LAYERS", {}).get("default", {}).get("BACKEND", "")
    if registry_path() == REDIS_REGISTRY and not conf.REDIS_URL:
        messages.append(
            Error("The Redis registry is selected but SIGNALING['REDIS_URL'] is not set.", id="signaling.E007")
        )
    if registry_path() == REDIS_REGISTRY and missing_modules("channels_redis", "redis"):
        messages.append(
            Error(
                "The Redis registry is selected (SIGNALING['REDIS_URL'] or REGISTRY) but "
                f"{', '.join(missing_modules('channels_redis', 'redis'))} is not installed.",
                hint="Install the redis extra: pip install 'django-rtc-signaling[redis]'.",
                id="signaling.E010",
            )
        )
    if (conf.SFU_JANUS_URL or conf.SFU_NODES) and missing_modules("websockets"):
        messages.append(
            Error(
                "SFU rooms are configured (SIGNALING['SFU_JANUS_URL']) but websockets is not installed.",
                hint="Install the sfu extra: pip install 'django-rtc-signaling[sfu]'.",
                id="signaling.E021",
            )
        )
    if registry_path() == IN_PROCESS_REGISTRY and layer and "InMemoryChannelLayer" not in layer:
        messages.append(
            Warning(
                "The signaling registry is in-process but the channel layer is shared: peers on different workers "
                "will not see each other.",
                hint="Set SIGNALING['REDIS_URL'] when you run several workers.",
                id="signaling.W001",
            )
        )
    if conf.MAX_MESSAGE_BYTES > DAPHNE_MAX_MESSAGE_BYTES:
        messages.append(
            Warning(
                f"SIGNALING['MAX_MESSAGE_BYTES'] is above Daphne's default message cap ({DAPHNE_MAX_MESSAGE_BYTES}); "
                "Daphne closes the socket before such a message reaches the consumer.",
                hint="Raise daphne's --websocket_max_message_size too, or lower MAX_MESSAGE_BYTES.",
                id="signaling.W002",
            )
        )
    return messages
