"""Sends every query of a block of code to one database: what the code reads and writes, the admin and the API
included, as if that database were the site's only one."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

_selected: ContextVar[str | None] = ContextVar("selected_database", default=None)


class SelectedDatabaseRouter:
    def db_for_read(self, model: type, **hints: Any) -> str | None:
        return _selected.get()

    def db_for_write(self, model: type, **hints: Any) -> str | None:
        return _selected.get()


@contextlib.contextmanager
def using_database(alias: str) -> Iterator[None]:
    token = _selected.set(alias)
    try:
        yield
    finally:
        _selected.reset(token)
