"""Waiting with a deadline, in the one way the package does it.

``within(awaitable, seconds)`` is ``asyncio.wait_for`` as Python 3.12 has it (built on ``asyncio.timeout``). On
Python 3.11, ``wait_for`` can swallow a cancellation that arrives in the same turn of the loop as the awaited
result: the cancelled task goes on as if nothing had happened, and whoever cancelled it and waits for it to end
(a Janus member's worker when its peer leaves, a drain) waits forever. Here a cancellation always wins.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def within(awaitable: Awaitable[T], seconds: float) -> T:
    """``await awaitable``, or raise ``TimeoutError`` (cancelling it) once ``seconds`` have passed."""
    async with asyncio.timeout(seconds):
        return await awaitable
