"""Tasks that run on their own (a parked peer's expiry, a leave on the way out, a drain), kept referenced until they
finish: the event loop itself holds only weak references to tasks."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_tasks: set[asyncio.Task[Any]] = set()


def in_background(coroutine: Coroutine[Any, Any, T], loop: asyncio.AbstractEventLoop | None = None) -> asyncio.Task[T]:
    """Run ``coroutine`` as a task of ``loop`` (the running one by default) and keep it alive until it is done."""
    task = (loop or asyncio.get_running_loop()).create_task(coroutine)
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
    return task
