"""Settings of the ``rooms`` app: the ``ROOMS`` dict, read on access, with the package's defaults.

Set only what you change::

    ROOMS = {"RECORDING_MAX_BYTES": 512 * 1024 * 1024}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # Largest recording an upload may declare, in bytes.
    "RECORDING_MAX_BYTES": 2 * 1024**3,
    # Largest chunk one upload request may carry, in bytes (the client helper sends 1 MiB chunks).
    "RECORDING_CHUNK_MAX_BYTES": 8 * 1024**2,
    # Where recordings go in the default storage (a server-chosen name below it: <room>/<uuid>.<ext>).
    "RECORDING_DIRECTORY": "recordings",
}


class RoomsSettings:
    """Typed accessors for ``settings.ROOMS``; each falls back to its entry in ``DEFAULTS``."""

    def _get(self, name: str) -> Any:
        value = getattr(settings, "ROOMS", None)
        return (value if isinstance(value, Mapping) else {}).get(name, DEFAULTS[name])

    @property
    def RECORDING_MAX_BYTES(self) -> int:
        return int(self._get("RECORDING_MAX_BYTES"))

    @property
    def RECORDING_CHUNK_MAX_BYTES(self) -> int:
        return int(self._get("RECORDING_CHUNK_MAX_BYTES"))

    @property
    def RECORDING_DIRECTORY(self) -> str:
        return str(self._get("RECORDING_DIRECTORY")).strip("/")


conf = RoomsSettings()
