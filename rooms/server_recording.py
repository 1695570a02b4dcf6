"""Calls recorded on the server: a recorder peer (``signaling.peer.recording``) joins a room in an extra seat and
each peer's audio and video become a ``Recording``, through the same storage, checksum and admin as uploads.

Needs the ``peer`` extra (aiortc). ``manage.py record_call ROOM`` runs it from the command line.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from asgiref.sync import sync_to_async
from django.core.files import File
from django.core.files.storage import default_storage
from django.utils import timezone

from rooms.models import Recording
from rooms.uploads import final_name
from signaling.conf import conf
from signaling.protocol import PeerRole
from signaling.tokens import issue_room_token

if TYPE_CHECKING:
    from signaling.peer.recording import RecordedStream

COPY_CHUNK = 1024 * 1024


def save_recorded_stream(room_id: str, stream: RecordedStream) -> Recording:
    """Store a finished file as a complete ``Recording`` of the room (the file is moved into storage)."""
    digest = hashlib.sha256()
    size = 0
    with open(stream.path, "rb") as file:
        while block := file.read(COPY_CHUNK):
            digest.update(block)
            size += len(block)
    recording = Recording.objects.create(
        room_id=room_id, owner=None, filename=stream.path.name,
        mime_type="video/webm" if stream.has_video else "audio/webm", stream_id=stream.peer_id,
        duration=round(stream.duration, 3), size=size, sha256=digest.hexdigest(), received=size,
        status=Recording.Status.UPLOADING,
    )
    with open(stream.path, "rb") as file:
        stored = default_storage.save(final_name(recording), File(file, name=stream.path.name))
    recording.file.name = stored
    recording.status = Recording.Status.COMPLETE
    recording.completed_at = timezone.now()
    recording.save(update_fields=["file", "status", "completed_at"])
    stream.path.unlink(missing_ok=True)
    return recording


async def record_room(room_id: str, url: str | None = None, empty_for: float = 3.0,
                      user_id: int | str | None = None) -> list[Recording]:
    """Join ``room_id`` as its recorder and record every peer until no participant is left (or the task is
    cancelled: what was recorded so far is saved). Returns the recordings saved."""
    from signaling.peer import WebRTCCall
    from signaling.peer.recording import CallRecorder

    token, _ = issue_room_token(room_id, user_id, PeerRole.RECORDER)
    call = WebRTCCall(url or conf.PEER_SIGNAL_URL, room_id, token=token, video_codecs=("VP8",))
    saved: list[Recording] = []

    async def save(stream: RecordedStream) -> None:
        saved.append(await sync_to_async(save_recorded_stream)(room_id, stream))

    with tempfile.TemporaryDirectory(prefix="rtc-recording-") as folder:
        recorder = CallRecorder(call, Path(folder), on_saved=save)
        await call.connect()
        try:
            await recorder.run(empty_for=empty_for)
        finally:
            await recorder.stop()
            await call.hangup()
    return saved
