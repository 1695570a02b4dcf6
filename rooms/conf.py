"""Settings of the ``rooms`` app: the ``ROOMS`` dict, read on access, with the package's defaults.

Set only what you change::

    ROOMS = {"RECORDING_MAX_BYTES": 512 * 1024 * 1024}
"""

from __future__ import annotations

from typing import Any

from signaling.settings_dict import DaysOrNone, PositiveInteger, Setting, SettingsDict, Text

POSITIVE_INTEGER = PositiveInteger("E003")
DAYS_OR_NONE = DaysOrNone("E004")


class RecordingDirectory(Text):
    """A directory of the default storage, without the slashes around it."""

    def read(self, value: Any) -> str:
        return str(value).strip("/")


class RoomsSettings(SettingsDict):
    """``settings.ROOMS``: each key with its default and what values it takes; on ``conf``, its typed value."""

    setting = "ROOMS"
    app = "rooms"

    # Largest recording an upload may declare, in bytes.
    RECORDING_MAX_BYTES = Setting(2 * 1024**3, POSITIVE_INTEGER)
    # Largest chunk one upload request may carry, in bytes (the client helper sends 1 MiB chunks).
    RECORDING_CHUNK_MAX_BYTES = Setting(8 * 1024**2, POSITIVE_INTEGER)
    # Where recordings go in the default storage (a server-chosen name below it: <room>/<uuid>.<ext>).
    RECORDING_DIRECTORY = Setting("recordings", RecordingDirectory(None))
    # Failed HTTP Basic logins one client address may make within AUTH_FAILURE_WINDOW seconds before its Basic
    # requests get 429 (without a password hash) until the window ends.
    AUTH_FAILURES_PER_ADDRESS = Setting(10, POSITIVE_INTEGER)
    AUTH_FAILURE_WINDOW = Setting(60, POSITIVE_INTEGER)
    # Lifecycle records a worker holds while the database cannot take them; past it new ones are dropped (logged).
    LOG_BUFFER_RECORDS = Setting(100_000, POSITIVE_INTEGER)
    # Days room events and ended peer sessions are kept; `manage.py prune_log` removes older ones (in batches; run it
    # from cron). None keeps them forever.
    LOG_RETENTION_DAYS = Setting(None, DAYS_OR_NONE)
    # Days an ad-hoc room (one nobody stored: it came to life with its first join) is kept after its last peer
    # left, with its sessions and events; `manage.py prune_log` removes older ones. None keeps them forever.
    AD_HOC_ROOM_RETENTION_DAYS = Setting(30, DAYS_OR_NONE)
    # Rows the admin's log pages (peer sessions, room events) count and page through at most: beyond them, narrow
    # the list (date drill-down, filters, search). Counting further would cost a scan of the table.
    ADMIN_LOG_ROWS = Setting(10_000, POSITIVE_INTEGER)


conf = RoomsSettings()
DEFAULTS = RoomsSettings.defaults
