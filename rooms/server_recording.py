"""Calls recorded on the server: a recorder peer (``signaling.peer.recording``) joins a room in an extra seat and
each peer's audio and video become a ``Recording``, through the same storage, checksum and admin as uploads.

Needs the ``peer`` extra (aiortc). ``manage.py record_call ROOM`` runs it from the command line.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from asgiref.sync import sync_to_async
from django.core.files import File
from django.core.files.storage import default_storage
from django.utils import timezone

from rooms.models import Recording
from rooms.uploads import COPY_CHUNK, final_name
from signaling import live
from signaling.conf import conf
from signaling.protocol import PeerRole, role_of
from signaling.tokens import issue_room_token

if TYPE_CHECKING:
    from signaling.peer.recording import RecordedStream


def save_recorded_stream(room_id: str, stream: RecordedStream) -> Recording:
    """Store a finished file as a complete ``Recording`` of the room (the file is moved into storage)."""
    digest = hashlib.sha256()
    size = 0
    with open(stream.path, "rb") as file:
        while block := file.read(COPY_CHUNK):
            digest.update(block)
            size += len(block)
    recording = Recording.objects.create(
        room_id=room_id,
        owner=None,
        filename=stream.path.name,
        mime_type="video/webm" if stream.has_video else "audio/webm",
        stream_id=stream.peer_id,
        duration=round(stream.duration, 3),
        size=size,
        sha256=digest.hexdigest(),
        received=size,
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


async def record_room(
    room_id: str, url: str | None = None, empty_for: float = 3.0, user_id: int | str | None = None
) -> list[tuple[Recording, RecordedStream]]:
    """Join ``room_id`` as its recorder and record every peer until no participant is left (or the task is
    cancelled: what was recorded so far is saved). Returns the recordings saved, with what was recorded."""
    from signaling.peer import WebRTCCall
    from signaling.peer.recording import CallRecorder

    token, _ = issue_room_token(room_id, user_id, PeerRole.RECORDER)
    call = WebRTCCall(
        url or conf.PEER_SIGNAL_URL, room_id, token=token, video_codecs=("VP8",), metadata={"name": "Recorder"}
    )
    saved: list[tuple[Recording, RecordedStream]] = []

    async def save(stream: RecordedStream) -> None:
        saved.append((await sync_to_async(save_recorded_stream)(room_id, stream), stream))

    with tempfile.TemporaryDirectory(prefix="rtc-recording-") as folder:
        recorder = CallRecorder(call, Path(folder), on_saved=save)
        await call.connect()
        try:
            await recorder.run(empty_for=empty_for)
        finally:
            await recorder.stop()
            await call.hangup()
    return saved


def recorders_in(room_id: str) -> list[str]:
    """The recorder peers in the room now (any worker's)."""
    return [peer_id for peer_id in live.room_members(room_id) if role_of(peer_id) == PeerRole.RECORDER]


def can_record() -> bool:
    """Whether this server has what recording needs (the ``peer`` extra: aiortc)."""
    return importlib.util.find_spec("aiortc") is not None


def start_recording(room_id: str) -> bool:
    """Start recording the room unless a recorder is in it already (then False). Raises live.LiveRoomsUnavailable."""
    if recorders_in(room_id):
        return False
    start_recorder_process(room_id)
    return True


def start_recorder_process(room_id: str) -> subprocess.Popen[bytes]:
    """``manage.py record_call ROOM`` in a process of its own (it outlives the request that started it; it ends
    when the room empties or it is stopped). It runs with this process's settings and import path."""
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(path for path in sys.path if path)}
    return subprocess.Popen(
        [sys.executable, "-m", "django", "record_call", room_id],
        env=environment,
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def stop_recording(room_id: str) -> int:
    """End the room's recordings: each recorder peer is removed from the room (moderation's kick, on whichever
    worker holds it); each saves what it recorded. Returns how many were stopped."""
    stopped = 0
    for peer_id in await sync_to_async(recorders_in)(room_id):
        stopped += await live.kick(room_id, peer_id)
    return stopped
