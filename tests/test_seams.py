"""The seams between the apps hold: ``rooms`` and ``frontend`` use ``signaling``'s facade (``signaling.live``) and
its public modules, never the registry or the consumer; ``signaling.events`` no longer imports the consumer (the
mount table is a module of its own)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.core.checks import Error
from django.test import Client

from frontend.checks import check_settings

ROOT = Path(__file__).resolve().parent.parent
#: Modules of ``signaling`` that other apps must not import: the registry and the endpoint's own machinery.
SIGNALING_INTERNALS = ("signaling.registry", "signaling.consumer", "signaling.mounts", "signaling.events")


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at any depth (function-level imports included)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


@pytest.mark.parametrize("app", ["rooms", "frontend"])
def test_apps_reach_signaling_through_its_facade_only(app: str) -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            module for module in imported_modules(path) if module.startswith(SIGNALING_INTERNALS)
        )
        for path in (ROOT / app).rglob("*.py")
    }
    assert {path: modules for path, modules in offenders.items() if modules} == {}


def test_events_do_not_import_the_consumer() -> None:
    for name in ("events.py", "mounts.py", "live.py"):
        modules = imported_modules(ROOT / "signaling" / name)
        assert not {m for m in modules if m.startswith("signaling.consumer")}, name


@pytest.mark.django_db
def test_the_demo_pages_open_their_socket_at_the_configured_path(client: Client, settings: object) -> None:
    assert 'data-signal="/api/call/signal"' in client.get("/call/r1/").content.decode()
    settings.FRONTEND = {"SIGNAL_PATH": "/calls/signal"}  # type: ignore[attr-defined]
    assert 'data-signal="/calls/signal"' in client.get("/call/r1/").content.decode()
    assert 'data-signal="/calls/signal"' in client.get("/chat/r1/").content.decode()


@pytest.mark.parametrize(
    ("value", "check_id"),
    [("api/call/signal", "frontend.E003"), (42, "frontend.E003"), ("ftp://h/s", "frontend.E003")],
)
def test_a_bad_signal_path_is_a_system_check_error(settings: object, value: object, check_id: str) -> None:
    settings.FRONTEND = {"SIGNAL_PATH": value}  # type: ignore[attr-defined]
    errors = check_settings()
    assert [error.id for error in errors] == [check_id]
    assert all(isinstance(e, Error) for e in errors)


def test_unknown_frontend_keys_and_a_non_dict_are_reported(settings: object) -> None:
    settings.FRONTEND = {"SIGNAL_PAHT": "/x"}  # type: ignore[attr-defined]
    assert [error.id for error in check_settings()] == ["frontend.E002"]
    settings.FRONTEND = ["not", "a", "dict"]  # type: ignore[attr-defined]
    assert [error.id for error in check_settings()] == ["frontend.E001"]
    settings.FRONTEND = {"SIGNAL_PATH": "wss://calls.example.com/signal"}  # type: ignore[attr-defined]
    assert check_settings() == []


def test_the_benchmarks_do_not_import_the_tests() -> None:
    # They share the reference project's server helpers (rtcsite.servers) with the tests instead.
    offenders = {
        str(path.relative_to(ROOT)): sorted(m for m in imported_modules(path) if m == "tests" or m.startswith("tests."))
        for path in (ROOT / "bench").rglob("*.py")
    }
    assert {path: modules for path, modules in offenders.items() if modules} == {}
