"""Chunked, resumable recording uploads on Django's storage API (so S3 and friends work by configuration).

Each chunk is stored as a part of its own (storage backends cannot append), named by its offset; the upload's
``received`` is the only truth about progress, so a client that lost a response asks for it and goes on from
there. When the last byte arrives the parts are joined into the final file under a server-chosen name, its
SHA-256 is compared with the one declared when the upload began, and only then is the recording complete.
Nothing else is ever visible as a finished recording.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Any

from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from rooms.conf import conf
from rooms.models import Recording

#: Declared MIME types accepted (parameters such as ``;codecs=vp8,opus`` aside), by the container they name.
CONTAINERS = {
    "video/webm": "webm",
    "audio/webm": "webm",
    "video/mp4": "mp4",
    "audio/mp4": "mp4",
    "video/ogg": "ogg",
    "audio/ogg": "ogg",
}
#: Bytes needed to tell the container from a file's start.
SNIFF_BYTES = 12
#: Bytes copied at a time while the parts are joined.
COPY_CHUNK = 1024 * 1024


@dataclass
class UploadError(Exception):
    """A refused upload step: ``status`` is the HTTP status, ``extra`` goes into the JSON error."""

    status: int
    detail: str
    extra: dict[str, Any] = field(default_factory=dict)


def declared_container(mime_type: str) -> str | None:
    return CONTAINERS.get(mime_type.split(";", 1)[0].strip().lower())


def sniffed_container(head: bytes) -> str | None:
    """The container the bytes are in, by their signature: WebM/Matroska (EBML), MP4 (ftyp box) or Ogg."""
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "webm"
    if head[4:8] == b"ftyp":
        return "mp4"
    if head.startswith(b"OggS"):
        return "ogg"
    return None


def check_container(recording: Recording, head: bytes) -> None:
    actual = sniffed_container(head)
    declared = declared_container(recording.mime_type)
    if actual is None:
        raise UploadError(415, "The bytes are not a WebM, MP4 or Ogg file, whatever the declared type.")
    if actual != declared:
        raise UploadError(415, f"The bytes are {actual.upper()}, not the declared {recording.mime_type}.")


def parts_directory(recording: Recording) -> str:
    return f"{conf.RECORDING_DIRECTORY}/parts/{recording.pk}"


def part_name(recording: Recording, offset: int) -> str:
    return f"{parts_directory(recording)}/{offset:016d}"


def final_name(recording: Recording) -> str:
    container = declared_container(recording.mime_type) or "bin"
    # Room ids of dots alone are refused now, but rooms named "." or ".." may be stored from before: never a path
    # segment that climbs out of the folder.
    folder = recording.room_id if recording.room_id.strip(".") else recording.room_id.replace(".", "_")
    return f"{conf.RECORDING_DIRECTORY}/{folder}/{recording.pk}.{container}"


def store_chunk(recording_id: Any, offset: int, data: bytes) -> Recording:
    """Store the bytes at ``offset``, which must be where the upload stands; finish the upload with its last
    chunk. Raises :class:`UploadError`."""
    with transaction.atomic():
        # Locked: two requests for one upload (a client retrying too early) must not both append.
        recording = Recording.objects.select_for_update().get(pk=recording_id)
        if recording.status != Recording.Status.UPLOADING:
            raise UploadError(409, f"This upload is {recording.status}.", {"received": recording.received})
        if offset != recording.received:
            raise UploadError(
                409,
                f"The upload stands at byte {recording.received}; send that offset.",
                {"received": recording.received},
            )
        if not data:
            raise UploadError(400, "An empty chunk.")
        if len(data) > recording.size - recording.received:
            raise UploadError(
                413,
                f"The chunk goes past the declared size of {recording.size} bytes.",
                {"received": recording.received},
            )
        if offset == 0 and len(data) >= SNIFF_BYTES:
            check_container(recording, data[:SNIFF_BYTES])
        name = part_name(recording, offset)
        # A part left by an attempt whose database update failed would make the storage pick another name.
        if default_storage.exists(name):
            default_storage.delete(name)
        default_storage.save(name, ContentFile(data))
        recording.received += len(data)
        recording.save(update_fields=["received"])
    if recording.received == recording.size:
        finish(recording)
    return recording


def finish(recording: Recording) -> None:
    """Join the parts into the final file; complete the recording if its checksum matches, else fail it."""
    digest = hashlib.sha256()
    with tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024) as joined:
        offset = 0
        while offset < recording.size:
            name = part_name(recording, offset)
            if not default_storage.exists(name):
                fail(recording)
                raise UploadError(500, f"The part at byte {offset} is missing from storage; upload again.")
            with default_storage.open(name, "rb") as part:
                while block := part.read(COPY_CHUNK):
                    digest.update(block)
                    joined.write(block)
                    offset += len(block)
        joined.seek(0)
        head = joined.read(SNIFF_BYTES)
        try:
            check_container(recording, head)
        except UploadError:
            fail(recording)
            raise
        if digest.hexdigest() != recording.sha256:
            fail(recording)
            raise UploadError(422, "The file's SHA-256 does not match the one declared: it was not stored.")
        joined.seek(0)
        name = final_name(recording)
        stored = default_storage.save(name, File(joined, name=name))
    recording.file.name = stored
    recording.status = Recording.Status.COMPLETE
    recording.completed_at = timezone.now()
    recording.save(update_fields=["file", "status", "completed_at"])
    delete_parts(recording)


def fail(recording: Recording) -> None:
    recording.status = Recording.Status.FAILED
    recording.save(update_fields=["status"])
    delete_parts(recording)


def delete_parts(recording: Recording) -> None:
    directory = parts_directory(recording)
    try:
        _, names = default_storage.listdir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return
    for name in names:
        default_storage.delete(f"{directory}/{name}")
    # A filesystem storage keeps the empty folder; other backends have no folders.
    path = getattr(default_storage, "path", None)
    if path is not None:
        try:
            shutil.rmtree(path(directory), ignore_errors=True)
        except NotImplementedError:
            pass


def delete_recording(recording: Recording) -> None:
    """Remove the file and any parts, then the row."""
    if recording.file:
        recording.file.delete(save=False)
    delete_parts(recording)
    recording.delete()
