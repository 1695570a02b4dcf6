"""``manage.py echo_peer ROOM``: an echo test peer in a room, until stopped (SIGINT or SIGTERM: it leaves cleanly)."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from signaling.conf import conf


class Command(BaseCommand):
    help = (
        "Join ROOM as an echo test peer: each peer's audio and video go back to it, and every data channel message "
        "comes back on its channel. Stays until stopped (Ctrl-C or SIGTERM)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("room")
        parser.add_argument("--url", help="The signaling endpoint (default: SIGNALING['PEER_SIGNAL_URL']).")
        parser.add_argument("--token", help="A room token (POST /api/rooms/<id>/token), for rooms that need one.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            from signaling.peer import WebRTCCall, WebRTCCallError
            from signaling.peer.agents import echo
        except ImportError as error:
            raise CommandError(f"The Python peer needs the peer extra (pip install '.[peer]'): {error}") from error

        async def run() -> None:
            call = WebRTCCall(
                options["url"] or conf.PEER_SIGNAL_URL,
                options["room"],
                token=options["token"],
                metadata={"name": "Echo test"},
            )
            echo(call)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, stop.set)
            try:
                await call.connect()
            except WebRTCCallError as error:
                raise CommandError(f"Could not join {options['room']}: {error.code}: {error}") from error
            self.stdout.write(f"Echoing in room {options['room']} as {call.peer_id}; Ctrl-C to leave.")
            self.stdout.flush()
            closed = asyncio.ensure_future(call.wait_closed())
            await asyncio.wait([closed, asyncio.ensure_future(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
            if call.error is not None and closed.done():
                raise CommandError(f"The call ended: {call.error.code}: {call.error}")
            await call.hangup()
            self.stdout.write("Left the room.")

        asyncio.run(run())
