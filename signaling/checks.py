"""System checks for the ``SIGNALING`` settings (``manage.py check``)."""

from __future__ import annotations

import importlib.util
import ipaddress
from collections.abc import Mapping, Sequence
from numbers import Real
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.utils.module_loading import import_string

from signaling.conf import DEFAULTS, conf
from signaling.connection_test import CONNECTION_TEST_ACCESS
from signaling.origin import normalize_origin
from signaling.settings_dict import settings_check

# Daphne refuses WebSocket messages above this by default (--websocket_max_message_size).
DAPHNE_MAX_MESSAGE_BYTES = 1024 * 1024


_POSITIVE_INTEGERS = (
    "MAX_PEERS",
    "MAX_MESSAGE_BYTES",
    "RATE_LIMIT_BURST",
    "RATE_LIMIT_TOLERANCE",
    "TURN_CREDENTIAL_TTL",
    "ROOM_TOKEN_TTL",
    "OUTBOUND_BUFFER_BYTES",
    "PARKED_BUFFER_FRAMES",
    "PARKED_BUFFER_BYTES",
    "CROSS_WORKER_BUFFER_BYTES",
    "MAX_SOCKETS",
    "MAX_SOCKETS_PER_ADDRESS",
    "JOIN_BURST_PER_ADDRESS",
    "ROOM_CREATION_BURST_PER_ADDRESS",
    "MAX_METADATA_BYTES",
)
_ICE_SCHEMES = ("stun:", "stuns:", "turn:", "turns:")


@settings_check("SIGNALING", DEFAULTS, "signaling")
def check_settings(user_settings: Mapping[str, Any]) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    values = {**DEFAULTS, **user_settings}
    for name in _POSITIVE_INTEGERS:
        value = values[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            errors.append(Error(f"SIGNALING['{name}'] must be a positive integer, not {value!r}.", id="signaling.E003"))
    seats = values["EXTRA_SEATS"]
    if isinstance(seats, bool) or not isinstance(seats, int) or seats < 0:
        errors.append(
            Error(f"SIGNALING['EXTRA_SEATS'] must be a whole number (0 or more), not {seats!r}.", id="signaling.E011")
        )
    grace = values["RESUME_GRACE"]
    if isinstance(grace, bool) or not isinstance(grace, Real) or grace < 0:
        errors.append(
            Error(
                f"SIGNALING['RESUME_GRACE'] must be a number of seconds (0 or more), not {grace!r}.",
                id="signaling.E012",
            )
        )
    for name in (
        "RATE_LIMIT_PER_SECOND",
        "WORKER_TIMEOUT",
        "JOIN_RATE_PER_ADDRESS",
        "ROOM_CREATION_RATE_PER_ADDRESS",
        "DRAIN_SECONDS",
    ):
        value = values[name]
        if isinstance(value, bool) or not isinstance(value, Real) or value <= 0:
            errors.append(Error(f"SIGNALING['{name}'] must be a positive number, not {value!r}.", id="signaling.E013"))
    url = values["REDIS_URL"]
    if url is not None and not (
        isinstance(url, str) and url.startswith(("redis://", "rediss://", "unix://", "redis+sentinel://"))
    ):
        errors.append(
            Error(
                f"SIGNALING['REDIS_URL'] must be a redis://, rediss://, unix:// or redis+sentinel:// URL, not {url!r}.",
                id="signaling.E014",
            )
        )
    elif isinstance(url, str) and url.startswith("redis+sentinel://"):
        from signaling.registry.connection import parse_redis_url

        try:
            parse_redis_url(url)
        except ValueError as error:
            errors.append(Error(f"SIGNALING['REDIS_URL']: {error}", id="signaling.E014"))
    peer_url = values["PEER_SIGNAL_URL"]
    if not isinstance(peer_url, str) or not peer_url.startswith(("ws://", "wss://", "http://", "https://")):
        errors.append(
            Error(
                f"SIGNALING['PEER_SIGNAL_URL'] must be a ws://, wss://, http:// or https:// URL, not {peer_url!r}.",
                id="signaling.E015",
            )
        )
    if not isinstance(values["REDIS_PREFIX"], str) or not values["REDIS_PREFIX"]:
        errors.append(Error("SIGNALING['REDIS_PREFIX'] must be a non-empty string.", id="signaling.E016"))
    if not isinstance(values["ALLOW_AD_HOC_ROOMS"], bool):
        errors.append(Error("SIGNALING['ALLOW_AD_HOC_ROOMS'] must be True or False.", id="signaling.E017"))
    if values["CONNECTION_TEST"] not in CONNECTION_TEST_ACCESS:
        errors.append(
            Error(
                f"SIGNALING['CONNECTION_TEST'] must be one of {', '.join(CONNECTION_TEST_ACCESS)}, not "
                f"{values['CONNECTION_TEST']!r}.",
                id="signaling.E018",
            )
        )
    errors.extend(_check_classes(values))
    errors.extend(_check_ice(values))
    if not errors:
        errors.extend(_check_combinations())
    return errors


def _check_classes(values: Mapping[str, Any]) -> list[CheckMessage]:
    from signaling.policy import RoomResolver
    from signaling.registry import RoomRegistry

    errors: list[CheckMessage] = []
    for name, base in (("REGISTRY", RoomRegistry), ("ROOM_RESOLVER", RoomResolver), ("USER_METADATA", None)):
        path = values[name]
        if path is None and name in ("REGISTRY", "USER_METADATA"):
            continue
        try:
            cls = import_string(path)
        except ImportError as error:
            errors.append(Error(f"SIGNALING['{name}'] {path!r} cannot be imported: {error}", id="signaling.E004"))
            continue
        if base is None:
            if not callable(cls):
                errors.append(Error(f"SIGNALING['{name}'] {path!r} is not callable.", id="signaling.E004"))
        elif not (isinstance(cls, type) and issubclass(cls, base)):
            errors.append(
                Error(f"SIGNALING['{name}'] {path!r} is not a subclass of {base.__qualname__}.", id="signaling.E004")
            )
    return errors


@register(Tags.security)
def check_access_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Who may open the endpoint and who may read its metrics: tagged security (``manage.py check --deploy``)."""
    user_settings = getattr(settings, "SIGNALING", {})
    if not isinstance(user_settings, Mapping):
        return []  # signaling.E001 says it
    values = {**DEFAULTS, **user_settings}
    messages = [
        *_check_origins(values["ALLOWED_ORIGINS"]),
        *_check_metrics_addresses(values["METRICS_ALLOWED_ADDRESSES"]),
    ]
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


def _check_origins(origins: Any) -> list[CheckMessage]:
    if isinstance(origins, str) or not isinstance(origins, Sequence):
        return [Error("SIGNALING['ALLOWED_ORIGINS'] must be a list of origins.", id="signaling.E005")]
    bad = [o for o in origins if not isinstance(o, str) or (o != "*" and normalize_origin(o) is None)]
    if bad:
        return [
            Error(
                f"SIGNALING['ALLOWED_ORIGINS'] has entries that are not origins: {bad!r}.",
                hint='Write each as "https://host" or "https://host:port", or "*" for any origin.',
                id="signaling.E005",
            )
        ]
    return []


def _ice_urls_ok(urls: Any, schemes: tuple[str, ...]) -> bool:
    if isinstance(urls, str):
        urls = [urls]
    return (
        isinstance(urls, Sequence)
        and bool(urls)
        and all(isinstance(url, str) and url.startswith(schemes) for url in urls)
    )


def _check_metrics_addresses(value: Any) -> list[CheckMessage]:
    error = Error(
        f"SIGNALING['METRICS_ALLOWED_ADDRESSES'] must be a list of IP addresses or networks, not {value!r}.",
        hint='For example ["127.0.0.1", "::1", "10.0.0.0/8"].',
        id="signaling.E009",
    )
    if isinstance(value, str) or not isinstance(value, Sequence):
        return [error]
    try:
        for entry in value:
            ipaddress.ip_network(str(entry), strict=False)
    except ValueError:
        return [error]
    return []


def _check_ice(values: Mapping[str, Any]) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    servers = values["ICE_SERVERS"]
    if servers is not None and (
        isinstance(servers, str)
        or not isinstance(servers, Sequence)
        or not all(isinstance(server, Mapping) and _ice_urls_ok(server.get("urls"), _ICE_SCHEMES) for server in servers)
    ):
        errors.append(
            Error(
                "SIGNALING['ICE_SERVERS'] must be None or a list of RTCIceServer dicts, each with stun:/turn: 'urls'.",
                hint='For example [{"urls": "stun:stun.example.com:3478"}].',
                id="signaling.E008",
            )
        )
    secret, urls = values["TURN_SECRET"], values["TURN_URLS"]
    if urls and not _ice_urls_ok(urls, ("turn:", "turns:")):
        errors.append(Error("SIGNALING['TURN_URLS'] must be a list of turn: or turns: URLs.", id="signaling.E008"))
    if bool(secret) != bool(urls):
        errors.append(
            Error(
                "SIGNALING['TURN_SECRET'] and SIGNALING['TURN_URLS'] go together: set both or neither.",
                id="signaling.E008",
            )
        )
    return errors


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
