"""``manage.py record_call ROOM``: record a call on the server, a ``Recording`` per peer."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = (
        "Join ROOM as its recorder (an extra seat: no participant's) and record every peer's audio and video as it "
        "arrives, a WebM Recording per peer, until nobody is left in the room (or Ctrl-C / SIGTERM: what was "
        "recorded so far is saved)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("room")
        parser.add_argument("--url", help="The signaling endpoint (default: SIGNALING['PEER_SIGNAL_URL']).")
        parser.add_argument(
            "--empty-for",
            type=float,
            default=3.0,
            help="Seconds the room must have no participant before the recording ends.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            from rooms.server_recording import record_room
            from signaling.peer import WebRTCCallError
        except ImportError as error:
            raise CommandError(f"Recording needs the peer extra (pip install '.[peer]'): {error}") from error

        async def run() -> None:
            task = asyncio.ensure_future(record_room(options["room"], options["url"], options["empty_for"]))
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, task.cancel)
            try:
                recordings = await task
            except asyncio.CancelledError:
                self.stdout.write("Stopped.")
                return
            except WebRTCCallError as error:
                raise CommandError(f"Could not record {options['room']}: {error.code}: {error}") from error
            for recording, stream in recordings:
                self.stdout.write(
                    f"Saved {recording.filename}: {recording.duration:.1f} s, {recording.size} bytes, "
                    f"{stream.video_frames} of {stream.video_frames_received} video frames received ({recording.pk})"
                )

        asyncio.run(run())
