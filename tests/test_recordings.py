"""Recording uploads through the REST API: chunked, resumable, checked, and every kind of bad input."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from rest_framework.test import APIClient

from rooms.models import Recording, Room

pytestmark = pytest.mark.django_db

WEBM = b"\x1a\x45\xdf\xa3" + b"\x9f\x42\x86\x81\x01" + os.urandom(300_000)
MP4 = b"\x00\x00\x00\x20ftypisom" + os.urandom(1000)


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def user() -> User:
    return User.objects.create_user("uploader", password="pw")


@pytest.fixture
def client(user: User) -> APIClient:
    api = APIClient()
    api.force_authenticate(user)
    return api


@pytest.fixture
def room() -> Room:
    return Room.objects.create(id="recorded-room")


def start(client: APIClient, data: bytes = WEBM, **fields: Any) -> Any:
    body = {
        "room": "recorded-room",
        "filename": "call.webm",
        "mime_type": "video/webm;codecs=vp8,opus",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "duration": 2.5,
        "stream_id": "local",
        **fields,
    }
    return client.post("/api/recordings/", body, format="json")


def put(client: APIClient, recording_id: str, offset: int, chunk: bytes, content_type: str | None = None) -> Any:
    return client.generic(
        "PUT",
        f"/api/recordings/{recording_id}/content",
        chunk,
        content_type=content_type or "application/offset+octet-stream",
        HTTP_UPLOAD_OFFSET=str(offset),
    )


def upload(client: APIClient, data: bytes, chunk: int = 100_000, **fields: Any) -> Any:
    created = start(client, data, **fields)
    assert created.status_code == 201, created.json()
    recording_id = created.json()["id"]
    response = None
    for offset in range(0, len(data), chunk):
        response = put(client, recording_id, offset, data[offset : offset + chunk])
        assert response.status_code == 200, response.json()
    assert response is not None
    return response


def test_chunked_upload_completes_and_downloads_byte_identical(client: APIClient, room: Room, media: Path) -> None:
    done = upload(client, WEBM).json()
    assert done["status"] == "complete"
    assert done["received"] == len(WEBM)
    assert done["completed_at"]
    assert done["owner"] == "uploader"
    assert done["download_url"].endswith(f"/api/recordings/{done['id']}/download")
    download = client.get(f"/api/recordings/{done['id']}/download")
    body = b"".join(download.streaming_content)
    assert download.status_code == 200
    assert hashlib.sha256(body).hexdigest() == done["sha256"]
    assert download["Content-Disposition"] == 'attachment; filename="call.webm"'
    # Stored under a name of the server's, the parts gone.
    recording = Recording.objects.get(pk=done["id"])
    assert recording.file.name == f"recordings/recorded-room/{done['id']}.webm"
    assert sorted(p.relative_to(media).as_posix() for p in media.rglob("*") if p.is_file()) == [recording.file.name]


def test_upload_cut_off_halfway_resumes_and_completes_identical(client: APIClient, room: Room, user: User) -> None:
    created = start(client).json()
    half = len(WEBM) // 2
    assert put(client, created["id"], 0, WEBM[:half]).json()["received"] == half
    # The connection dropped mid-chunk: the next client (a new page, say) asks where the upload stands.
    again = APIClient()
    again.force_authenticate(user)
    status = again.get(f"/api/recordings/{created['id']}/").json()
    assert status["received"] == half
    assert status["status"] == "uploading"
    assert status["download_url"] is None
    assert again.get(f"/api/recordings/{created['id']}/download").status_code == 404
    finished = put(again, created["id"], status["received"], WEBM[half:]).json()
    assert finished["status"] == "complete"
    body = b"".join(again.get(f"/api/recordings/{created['id']}/download").streaming_content)
    assert body == WEBM


def test_chunk_at_the_wrong_offset_is_a_conflict(client: APIClient, room: Room) -> None:
    created = start(client).json()
    assert put(client, created["id"], 0, WEBM[:1000]).status_code == 200
    for offset in (0, 500, 2000):
        response = put(client, created["id"], offset, WEBM[offset : offset + 10])
        assert response.status_code == 409
        assert response.json()["received"] == 1000
    assert Recording.objects.get(pk=created["id"]).received == 1000


def test_declared_size_over_the_limit_is_refused(client: APIClient, room: Room, settings: Any) -> None:
    settings.ROOMS = {"RECORDING_MAX_BYTES": 100_000}
    response = start(client)
    assert response.status_code == 413
    assert "100000 bytes" in response.json()["detail"]
    assert not Recording.objects.exists()


def test_chunk_past_the_declared_size_or_the_chunk_limit_is_refused(
    client: APIClient, room: Room, settings: Any
) -> None:
    created = start(client, WEBM[:5000]).json()
    response = put(client, created["id"], 0, WEBM[:6000])
    assert response.status_code == 413
    assert response.json()["received"] == 0
    settings.ROOMS = {"RECORDING_CHUNK_MAX_BYTES": 1000}
    response = put(client, created["id"], 0, WEBM[:1001])
    assert response.status_code == 413
    assert "at most 1000 bytes" in response.json()["detail"]
    assert Recording.objects.get(pk=created["id"]).received == 0


@pytest.mark.parametrize(
    ("data", "mime_type", "message"),
    [
        (b"MZ\x90\x00" + os.urandom(5000), "video/webm", "not a WebM, MP4 or Ogg file"),
        (b"<html><body>" + b"x" * 5000, "audio/ogg", "not a WebM, MP4 or Ogg file"),
        (MP4, "video/webm", "The bytes are MP4, not the declared video/webm"),
    ],
)
def test_bytes_that_are_not_the_declared_media_are_refused(
    client: APIClient, room: Room, data: bytes, mime_type: str, message: str
) -> None:
    created = start(client, data, mime_type=mime_type).json()
    response = put(client, created["id"], 0, data)
    assert response.status_code == 415
    assert message in response.json()["detail"]
    assert Recording.objects.get(pk=created["id"]).received == 0


def test_media_check_also_runs_on_the_joined_file(client: APIClient, room: Room) -> None:
    # A first chunk too short to tell: the check waits for the whole file, which then fails it.
    data = b"not media at all" * 10
    created = start(client, data).json()
    assert put(client, created["id"], 0, data[:5]).status_code == 200
    response = put(client, created["id"], 5, data[5:])
    assert response.status_code == 415
    recording = Recording.objects.get(pk=created["id"])
    assert recording.status == "failed"
    assert not recording.file


def test_checksum_mismatch_fails_the_upload_and_stores_nothing(client: APIClient, room: Room, media: Path) -> None:
    created = start(client, sha256=hashlib.sha256(b"something else").hexdigest()).json()
    response = put(client, created["id"], 0, WEBM)
    assert response.status_code == 422
    assert "SHA-256" in response.json()["detail"]
    recording = Recording.objects.get(pk=created["id"])
    assert recording.status == "failed"
    assert not recording.file
    assert [p for p in media.rglob("*") if p.is_file()] == []
    assert client.get(f"/api/recordings/{created['id']}/download").status_code == 404
    assert put(client, created["id"], len(WEBM), b"x").status_code == 409


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"filename": "../../etc/passwd"}, "filename"),
        ({"filename": "sub/dir/call.webm"}, "filename"),
        ({"filename": "C:\\temp\\call.webm"}, "filename"),
        ({"mime_type": "application/x-msdownload"}, "mime_type"),
        ({"sha256": "abc"}, "sha256"),
        ({"size": 0}, "size"),
        ({"duration": -1}, "duration"),
        ({"room": "no-such-room"}, "room"),
    ],
)
def test_bad_recording_fields_are_refused(client: APIClient, room: Room, fields: dict[str, Any], field: str) -> None:
    response = start(client, **fields)
    assert response.status_code == 400
    assert field in response.json()
    assert not Recording.objects.exists()


def test_recording_for_a_room_the_caller_may_not_see(client: APIClient) -> None:
    Room.objects.create(id="recorded-room", access="token")
    response = start(client)
    assert response.status_code == 400
    assert response.json() == {"room": ["No such room."]}


def test_writes_need_a_user_and_csrf(room: Room, user: User) -> None:
    assert start(APIClient()).status_code in (401, 403)
    session = APIClient(enforce_csrf_checks=True)
    assert session.login(username="uploader", password="pw")
    response = start(session)
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert not Recording.objects.exists()


def test_missing_offset_or_wrong_body_type(client: APIClient, room: Room) -> None:
    created = start(client).json()
    response = client.generic(
        "PUT", f"/api/recordings/{created['id']}/content", WEBM[:100], content_type="application/offset+octet-stream"
    )
    assert response.status_code == 400
    assert "Upload-Offset" in response.json()
    assert put(client, created["id"], 0, b'{"a": 1}', content_type="application/json").status_code == 415


def test_recordings_are_their_owners_and_staffs(client: APIClient, room: Room, media: Path) -> None:
    mine = upload(client, WEBM).json()
    other = APIClient()
    other.force_authenticate(User.objects.create_user("someone-else"))
    assert other.get(f"/api/recordings/{mine['id']}/").status_code == 404
    assert other.get(f"/api/recordings/{mine['id']}/download").status_code == 404
    assert other.delete(f"/api/recordings/{mine['id']}/").status_code == 404
    assert other.get("/api/recordings/").json()["results"] == []
    staff = APIClient()
    unprivileged_staff = APIClient()
    unprivileged_staff.force_authenticate(User.objects.create_user("staff-without-permissions", is_staff=True))
    assert unprivileged_staff.get(f"/api/recordings/{mine['id']}/").status_code == 404
    assert unprivileged_staff.delete(f"/api/recordings/{mine['id']}/").status_code == 404
    staff_user = User.objects.create_user("staff", is_staff=True)
    staff_user.user_permissions.set(Permission.objects.filter(codename="view_recording"))
    staff.force_authenticate(staff_user)
    assert staff.get(f"/api/recordings/{mine['id']}/").status_code == 200
    assert staff.delete(f"/api/recordings/{mine['id']}/").status_code == 403
    listed = client.get("/api/recordings/", {"room": "recorded-room", "status": "complete"}).json()
    assert [r["id"] for r in listed["results"]] == [mine["id"]]
    assert client.get("/api/recordings/", {"status": "lost"}).status_code == 400
    assert client.delete(f"/api/recordings/{mine['id']}/").status_code == 204
    assert not Recording.objects.exists()
    assert [p for p in media.rglob("*") if p.is_file()] == []


def test_admin_lists_recordings_with_a_download_link(client: APIClient, room: Room) -> None:
    done = upload(client, WEBM).json()
    admin = APIClient()
    admin.force_login(User.objects.create_superuser("root", "root@example.test", "pw"))
    page = admin.get("/admin/rooms/recording/").content.decode()
    assert "call.webm" in page
    assert "uploader" in page
    assert "293.0\xa0KB" in page
    assert f'href="/api/recordings/{done["id"]}/download"' in page
    body = b"".join(admin.get(f"/api/recordings/{done['id']}/download").streaming_content)
    assert body == WEBM


@pytest.mark.parametrize("offset", ["-1", "1.5", "\u00b2", "0x10", ""])
def test_malformed_offset_is_a_clear_400(client: APIClient, room: Room, offset: str) -> None:
    created = start(client).json()
    response = client.generic(
        "PUT",
        f"/api/recordings/{created['id']}/content",
        WEBM[:100],
        content_type="application/offset+octet-stream",
        HTTP_UPLOAD_OFFSET=offset,
    )
    assert response.status_code == 400
    assert "Upload-Offset" in response.json()
