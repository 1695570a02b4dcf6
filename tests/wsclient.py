"""Helpers for end-to-end tests that speak the protocol over real WebSockets."""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.asyncio.client import ClientConnection


async def receive(socket: ClientConnection, timeout: float = 5) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(socket.recv(), timeout))
    return message


async def send(socket: ClientConnection, **message: Any) -> None:
    await socket.send(json.dumps(message))


async def eventually(check: Callable[[], bool | Awaitable[bool]], timeout: float = 10) -> None:
    """Wait until ``check()`` (sync or async) is true, failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def offer_and_answer(caller: ClientConnection, caller_id: str, callee: ClientConnection, callee_id: str) -> None:
    """The seed's negotiation: the joiner offers, the other answers; each side sees the other's as `from`."""
    offer = {"type": "offer", "sdp": "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n"}
    await send(caller, t="sdp", to=callee_id, description=offer)
    assert await receive(callee) == {"t": "sdp", "from": caller_id, "description": offer}
    answer = {"type": "answer", "sdp": "v=0\r\n"}
    await send(callee, t="sdp", to=caller_id, description=answer)
    assert await receive(caller) == {"t": "sdp", "from": callee_id, "description": answer}
