"""The reference project's ASGI application under a profiler, for ``python -m bench.profile``; never for production
(profiling slows the worker down). ``RTC_PROFILE=memory`` (the default) traces allocations (``tracemalloc``):
each SIGUSR1 writes a snapshot of what the worker holds. ``RTC_PROFILE=time`` profiles the worker's thread
(``cProfile``: daphne, Twisted, Autobahn and the application all run there): each SIGUSR1 writes what was profiled
since the last one, and starts again. Files are numbered, under ``$RTC_PROFILE_DIR``, each followed by a ``.done``
marker."""

from __future__ import annotations

import cProfile
import gc
import itertools
import os
import signal
import tracemalloc
from pathlib import Path
from types import FrameType

MODE = os.environ.get("RTC_PROFILE", "memory")
_profiler = cProfile.Profile()
if MODE == "memory":
    tracemalloc.start(int(os.environ.get("RTC_TRACEMALLOC_FRAMES", "12")))
else:
    _profiler.enable()

from rtcsite.asgi import application  # noqa: E402

__all__ = ["application"]

_DIRECTORY = Path(os.environ["RTC_PROFILE_DIR"])
_NUMBERS = itertools.count()


def _dump(signum: int, frame: FrameType | None) -> None:
    global _profiler
    path = _DIRECTORY / f"profile-{next(_NUMBERS)}"
    if MODE == "memory":
        gc.collect()
        tracemalloc.take_snapshot().dump(str(path))
    else:
        _profiler.disable()
        _profiler.dump_stats(str(path))
        _profiler = cProfile.Profile()
        _profiler.enable()
    (_DIRECTORY / f"{path.name}.done").touch()


signal.signal(signal.SIGUSR1, _dump)
