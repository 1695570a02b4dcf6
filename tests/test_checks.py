"""Misconfiguration is reported by ``manage.py check`` with stable ids."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from rooms.checks import check_resolver
from rooms.checks import check_settings as check_rooms_settings
from signaling.checks import check_access_settings, check_settings

MODEL_RESOLVER = "rooms.resolver.ModelRoomResolver"
ROOT = Path(__file__).resolve().parent.parent


def ids(settings: Any, **signaling: Any) -> list[str]:
    settings.SIGNALING = signaling
    return [message.id for message in check_settings()]


def test_reference_settings_pass(settings: Any) -> None:
    assert check_settings() == []
    assert check_resolver() == []


def test_not_a_dict(settings: Any) -> None:
    settings.SIGNALING = ["MAX_PEERS", 4]
    assert [m.id for m in check_settings()] == ["signaling.E001"]


def test_unknown_key_is_named(settings: Any) -> None:
    settings.SIGNALING = {"MAX_PEER": 4}
    (error,) = check_settings()
    assert error.id == "signaling.E002"
    assert "MAX_PEER" in error.msg
    assert "MAX_PEERS" in error.hint


@pytest.mark.parametrize(
    ("key", "value", "check_id"),
    [
        ("MAX_PEERS", 0, "signaling.E003"),
        ("MAX_PEERS", "4", "signaling.E003"),
        ("MAX_PEERS", True, "signaling.E003"),
        ("MAX_MESSAGE_BYTES", -1, "signaling.E003"),
        ("RATE_LIMIT_BURST", 1.5, "signaling.E003"),
        ("RATE_LIMIT_TOLERANCE", None, "signaling.E003"),
        ("EXTRA_SEATS", -1, "signaling.E011"),
        ("RESUME_GRACE", "10", "signaling.E012"),
        ("RATE_LIMIT_PER_SECOND", 0, "signaling.E013"),
        ("RATE_LIMIT_PER_SECOND", "fast", "signaling.E013"),
        ("REDIS_URL", "http://redis", "signaling.E014"),
        ("REDIS_URL", "redis+sentinel://h:1", "signaling.E014"),
        ("PEER_SIGNAL_URL", "ftp://h/s", "signaling.E015"),
        ("REDIS_PREFIX", "", "signaling.E016"),
        ("ALLOW_AD_HOC_ROOMS", "no", "signaling.E017"),
    ],
)
def test_bad_values(settings: Any, key: str, value: Any, check_id: str) -> None:
    # One id per kind of problem, as django-cors-headers numbers its checks.
    assert ids(settings, **{key: value}) == [check_id]


@pytest.mark.parametrize("key", ["REGISTRY", "ROOM_RESOLVER"])
@pytest.mark.parametrize("path", ["nowhere.Registry", "signaling.protocol.encode"])
def test_class_paths(settings: Any, key: str, path: str) -> None:
    assert ids(settings, **{"ROOM_RESOLVER": MODEL_RESOLVER, key: path}) == ["signaling.E004"]


@pytest.mark.parametrize("origins", ["https://a.example", ["https://a.example/path"], ["a.example"], [None]])
def test_bad_origins(settings: Any, origins: Any) -> None:
    settings.SIGNALING = {"ROOM_RESOLVER": MODEL_RESOLVER, "ALLOWED_ORIGINS": origins}
    assert [m.id for m in check_access_settings()] == ["signaling.E005"]
    # The settings check leaves them to the security one (`manage.py check --tag security`, `--deploy`).
    assert "signaling.E005" not in ids(settings, ROOM_RESOLVER=MODEL_RESOLVER, ALLOWED_ORIGINS=origins)


def test_any_origin_is_a_security_warning(settings: Any) -> None:
    from django.core.checks import registry

    settings.SIGNALING = {"ROOM_RESOLVER": MODEL_RESOLVER, "ALLOWED_ORIGINS": ["*"]}
    assert [m.id for m in check_access_settings()] == ["signaling.W003"]
    assert "security" in registry.registry.tags_available()
    assert check_access_settings in registry.registry.get_checks()
    assert "security" in check_access_settings.tags


def test_no_room_can_ever_be_joined(settings: Any) -> None:
    assert ids(settings, ALLOW_AD_HOC_ROOMS=False) == ["signaling.E006"]
    assert ids(settings, ALLOW_AD_HOC_ROOMS=False, ROOM_RESOLVER=MODEL_RESOLVER) == []


def test_in_process_registry_with_a_shared_channel_layer(settings: Any) -> None:
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer"}}
    assert ids(settings, ROOM_RESOLVER=MODEL_RESOLVER) == ["signaling.W001"]


def test_message_limit_above_daphne_cap(settings: Any) -> None:
    assert ids(settings, ROOM_RESOLVER=MODEL_RESOLVER, MAX_MESSAGE_BYTES=2 * 1024 * 1024) == ["signaling.W002"]


@pytest.mark.parametrize(
    ("rooms", "expected"),
    [
        ({}, []),
        ({"LOG_RETENTION_DAYS": 90, "AD_HOC_ROOM_RETENTION_DAYS": 0.5, "ADMIN_LOG_ROWS": 500}, []),
        ("90 days", ["rooms.E001"]),
        ({"LOG_RETENTION": 90}, ["rooms.E002"]),
        ({"ADMIN_LOG_ROWS": 0}, ["rooms.E003"]),
        ({"LOG_BUFFER_RECORDS": "many"}, ["rooms.E003"]),
        ({"LOG_RETENTION_DAYS": -1}, ["rooms.E004"]),
        ({"AD_HOC_ROOM_RETENTION_DAYS": "30"}, ["rooms.E004"]),
        ({"LOG_RETENTION_DAYS": float("nan")}, ["rooms.E004"]),
    ],
)
def test_rooms_settings(settings: Any, rooms: Any, expected: list[str]) -> None:
    settings.ROOMS = rooms
    assert [message.id for message in check_rooms_settings()] == expected


def test_rooms_installed_but_not_consulted(settings: Any) -> None:
    settings.SIGNALING = {}
    assert [m.id for m in check_resolver()] == ["rooms.W001"]


def test_checks_run_from_manage_py(settings: Any) -> None:
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    settings.SIGNALING = {"MAX_PEERS": 0}
    with pytest.raises(SystemCheckError, match=r"signaling\.E003"):
        call_command("check")


def without_modules(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    """Make these modules look uninstalled to the checks (an extra that is not installed)."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in names else real(name, *a))


def test_the_redis_registry_without_its_extra_is_explained(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    assert "signaling.E010" not in ids(settings, REDIS_URL="redis://127.0.0.1:6379/0", ROOM_RESOLVER=MODEL_RESOLVER)
    without_modules(monkeypatch, "channels_redis")
    settings.SIGNALING = {"REDIS_URL": "redis://127.0.0.1:6379/0", "ROOM_RESOLVER": MODEL_RESOLVER}
    (error,) = [m for m in check_settings() if m.id == "signaling.E010"]
    assert "channels_redis" in error.msg
    assert "[redis]" in (error.hint or "")
    # The in-process registry needs no extra.
    assert "signaling.E010" not in ids(settings, ROOM_RESOLVER=MODEL_RESOLVER)


def test_the_rest_api_without_the_api_extra_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    from rooms.checks import check_api_extra

    assert check_api_extra() == []
    without_modules(monkeypatch, "drf_spectacular")
    (warning,) = check_api_extra()
    assert warning.id == "rooms.W002"
    assert "drf_spectacular" in warning.msg
    assert "[api]" in (warning.hint or "")


@pytest.mark.parametrize("app", ["signaling", "rooms", "frontend"])
def test_each_setting_is_declared_once_and_its_default_passes_its_own_check(settings: Any, app: str) -> None:
    from importlib import import_module

    from signaling.settings_dict import SettingsDict

    module = import_module(f"{app}.conf")
    settings_class = type(module.conf)
    assert issubclass(settings_class, SettingsDict)
    assert settings_class.app == app
    assert set(module.DEFAULTS) == set(settings_class.declared)
    setattr(settings, settings_class.setting, {})
    docs = "".join(path.read_text() for path in (ROOT / "docs").glob("*.md"))
    for name, declared in settings_class.declared.items():
        assert declared.kind.problem(declared.default) is None, name
        assert getattr(module.conf, name) == declared.kind.read(declared.default), name
        assert re.search(rf"\b{name}\b", docs), f"{settings_class.setting}['{name}'] is in no page of docs/"


def test_a_number_that_is_not_a_number_is_refused(settings: Any) -> None:
    assert ids(settings, ROOM_RESOLVER=MODEL_RESOLVER, RATE_LIMIT_PER_SECOND=float("nan")) == ["signaling.E013"]
    assert ids(settings, ROOM_RESOLVER=MODEL_RESOLVER, RESUME_GRACE=float("nan")) == ["signaling.E012"]


def test_the_sfu_settings_go_together(settings: Any) -> None:
    janus = {"SFU_JANUS_URL": "ws://10.0.0.7:8188", "SFU_API_SECRET": "s", "SFU_ADMIN_KEY": "k"}
    assert ids(settings, ROOM_RESOLVER=MODEL_RESOLVER, **janus) == []
    for missing in janus:
        partial = {key: value for key, value in janus.items() if key != missing}
        assert ids(settings, ROOM_RESOLVER=MODEL_RESOLVER, **partial) == ["signaling.E020"], missing
    assert ids(settings, ROOM_RESOLVER=MODEL_RESOLVER, **{**janus, "SFU_JANUS_URL": "http://janus"}) == [
        "signaling.E019"
    ]


def test_sfu_rooms_without_the_sfu_extra_are_named(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import signaling.checks

    janus = {"SFU_JANUS_URL": "ws://10.0.0.7:8188", "SFU_API_SECRET": "s", "SFU_ADMIN_KEY": "k"}
    monkeypatch.setattr(signaling.checks, "missing_modules", lambda *names: [n for n in names if n == "websockets"])
    (error,) = [m for m in check_settings_with(settings, janus) if m.id == "signaling.E021"]
    assert "[sfu]" in (error.hint or "")


def check_settings_with(settings: Any, signaling: dict[str, Any]) -> list[Any]:
    settings.SIGNALING = {"ROOM_RESOLVER": MODEL_RESOLVER, **signaling}
    return list(check_settings())
