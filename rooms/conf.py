"""Settings of the ``rooms`` app: the ``ROOMS`` dict, read on access, with the package's defaults.

Set only what you change::

    ROOMS = {"RECORDING_MAX_BYTES": 512 * 1024 * 1024}
"""

from __future__ import annotations

from typing import Any

from signaling.settings_dict import SettingsDict

DEFAULTS: dict[str, Any] = {
    # Largest recording an upload may declare, in bytes.
    "RECORDING_MAX_BYTES": 2 * 1024**3,
    # Largest chunk one upload request may carry, in bytes (the client helper sends 1 MiB chunks).
    "RECORDING_CHUNK_MAX_BYTES": 8 * 1024**2,
    # Where recordings go in the default storage (a server-chosen name below it: <room>/<uuid>.<ext>).
    "RECORDING_DIRECTORY": "recordings",
    # Failed HTTP Basic logins one client address may make within AUTH_FAILURE_WINDOW seconds before its Basic
    # requests get 429 (without a password hash) until the window ends.
    "AUTH_FAILURES_PER_ADDRESS": 10,
    "AUTH_FAILURE_WINDOW": 60,
    # Lifecycle records a worker holds while the database cannot take them; past it new ones are dropped (logged).
    "LOG_BUFFER_RECORDS": 100_000,
    # Days room events and ended peer sessions are kept; `manage.py prune_log` removes older ones (in batches; run it
    # from cron). None keeps them forever.
    "LOG_RETENTION_DAYS": None,
    # Days an ad-hoc room (one nobody stored: it came to life with its first join) is kept after its last peer
    # left, with its sessions and events; `manage.py prune_log` removes older ones. None keeps them forever.
    "AD_HOC_ROOM_RETENTION_DAYS": 30,
    # Rows the admin's log pages (peer sessions, room events) count and page through at most: beyond them, narrow
    # the list (date drill-down, filters, search). Counting further would cost a scan of the table.
    "ADMIN_LOG_ROWS": 10_000,
}


class RoomsSettings(SettingsDict):
    """Typed accessors for ``settings.ROOMS``; each falls back to its entry in ``DEFAULTS``."""

    setting = "ROOMS"
    defaults = DEFAULTS

    @property
    def RECORDING_MAX_BYTES(self) -> int:
        return int(self._get("RECORDING_MAX_BYTES"))

    @property
    def RECORDING_CHUNK_MAX_BYTES(self) -> int:
        return int(self._get("RECORDING_CHUNK_MAX_BYTES"))

    @property
    def AUTH_FAILURES_PER_ADDRESS(self) -> int:
        return int(self._get("AUTH_FAILURES_PER_ADDRESS"))

    @property
    def AUTH_FAILURE_WINDOW(self) -> int:
        return int(self._get("AUTH_FAILURE_WINDOW"))

    @property
    def LOG_BUFFER_RECORDS(self) -> int:
        return int(self._get("LOG_BUFFER_RECORDS"))

    @property
    def LOG_RETENTION_DAYS(self) -> float | None:
        value = self._get("LOG_RETENTION_DAYS")
        return None if value is None else float(value)

    @property
    def AD_HOC_ROOM_RETENTION_DAYS(self) -> float | None:
        value = self._get("AD_HOC_ROOM_RETENTION_DAYS")
        return None if value is None else float(value)

    @property
    def ADMIN_LOG_ROWS(self) -> int:
        return int(self._get("ADMIN_LOG_ROWS"))

    @property
    def RECORDING_DIRECTORY(self) -> str:
        return str(self._get("RECORDING_DIRECTORY")).strip("/")


conf = RoomsSettings()
