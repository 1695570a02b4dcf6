"""The floor to compare with: a bare Channels consumer under daphne, as the issue measured one (no validation, no
Redis, no database, delivering in-process). ``daphne bench.bare:application``, with DJANGO_SETTINGS_MODULE set.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import django

django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

_ids = itertools.count()
_rooms: dict[str, dict[str, BareConsumer]] = {}


class BareConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]
    async def connect(self) -> None:
        self.peer_id = ""
        self.room_id = ""
        await self.accept()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        message: dict[str, Any] = json.loads(text_data or "{}")
        if message["t"] == "join":
            self.peer_id, self.room_id = str(next(_ids)), message["roomId"]
            room = _rooms.setdefault(self.room_id, {})
            await self.send(json.dumps({"t": "joined", "peerId": self.peer_id, "peers": list(room)}))
            for other in room.values():
                await other.send(json.dumps({"t": "peer-joined", "peerId": self.peer_id}))
            room[self.peer_id] = self
        elif message["t"] == "ice":
            target = _rooms.get(self.room_id, {}).get(message["to"])
            if target is not None:
                await target.send(json.dumps({"t": "ice", "from": self.peer_id, "candidate": message["candidate"]}))

    async def disconnect(self, code: int) -> None:
        _rooms.get(self.room_id, {}).pop(self.peer_id, None)


application = ProtocolTypeRouter({"websocket": URLRouter([path("api/call/signal", BareConsumer.as_asgi())])})
