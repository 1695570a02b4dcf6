"""The REST API and the reference project's defaults under odd and hostile input: staff without model permissions,
password guessing, numbers and types that once gave 500s, ad-hoc rooms in listings, and the secret key."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.core.cache import cache
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from rooms.models import PeerSession, Recording, Room, RoomEvent
from rtcsite.servers import ROOT

pytestmark = pytest.mark.django_db

WEBM = b"\x1a\x45\xdf\xa3" + b"\x9f\x42\x86\x81\x01" + os.urandom(1000)


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    cache.clear()


def client_for(user: User) -> APIClient:
    api = APIClient()
    api.force_authenticate(user)
    return api


@pytest.fixture
def powerless_staff() -> APIClient:
    """A staff account with no model permissions: the admin shows it nothing and lets it change nothing."""
    return client_for(User.objects.create_user("intern", is_staff=True))


def test_staff_without_model_permissions_can_change_nothing(powerless_staff: APIClient) -> None:
    Room.objects.create(id="kept", name="Kept")
    Room.objects.create(id="private", access="token")
    assert powerless_staff.post("/api/rooms/", {"id": "new-room"}, format="json").status_code == 403
    assert powerless_staff.patch("/api/rooms/kept/", {"name": "Mine"}, format="json").status_code == 403
    assert powerless_staff.delete("/api/rooms/kept/").status_code == 403
    for action in ("close", "reopen", "kick"):
        assert powerless_staff.post(f"/api/rooms/kept/{action}", {"peer_id": "x"}, format="json").status_code == 403
    assert powerless_staff.get("/api/rooms/kept/events").status_code == 403
    # It lists what anyone may see, not what staff may.
    listed = [room["id"] for room in powerless_staff.get("/api/rooms/").json()["results"]]
    assert listed == ["kept"]
    assert Room.objects.get(pk="kept").name == "Kept"
    assert not Room.objects.filter(pk="new-room").exists()


def test_each_staff_action_needs_its_own_permission() -> None:
    Room.objects.create(id="kept")
    user = User.objects.create_user("viewer", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=["view_room", "view_roomevent"]))
    viewer = client_for(user)
    assert viewer.get("/api/rooms/kept/events").status_code == 200
    assert viewer.post("/api/rooms/kept/close").status_code == 403
    user.user_permissions.add(Permission.objects.get(codename="change_room"))
    changer = client_for(User.objects.get(pk=user.pk))
    assert changer.post("/api/rooms/kept/close").status_code == 200
    assert changer.delete("/api/rooms/kept/").status_code == 403


def basic(username: str, password: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


def test_password_guessing_is_throttled_per_address(settings: Any) -> None:
    settings.ROOMS = {"AUTH_FAILURES_PER_ADDRESS": 5, "AUTH_FAILURE_WINDOW": 60}
    User.objects.create_user("admin", password="right", is_staff=True)
    api = APIClient()
    statuses = [api.get("/api/rooms/", **basic("admin", f"guess-{n}")).status_code for n in range(8)]
    # Refused (401, the challenge naming the first scheme, Token), then throttled.
    assert statuses == [401] * 5 + [429] * 3
    # Throttled even with the right password: the address has to wait the window out.
    assert api.get("/api/rooms/", **basic("admin", "right")).status_code == 429
    # Another address is not affected; requests without credentials are not either.
    assert api.get("/api/rooms/", REMOTE_ADDR="198.51.100.4", **basic("admin", "right")).status_code == 200
    assert api.get("/api/rooms/").status_code == 200


# Fullwidth digits ("\uff11\uff12") and a superscript two are digits to str.isdigit(), not to a whole number.
@pytest.mark.parametrize("value", ["9" * 5000, "\uff11\uff12", "\u00b2", "-1", "1e3", "0x10"])
def test_whole_numbers_that_are_not_are_400s(value: str) -> None:
    user = User.objects.create_user("uploader")
    Room.objects.create(id="r")
    api = client_for(user)
    assert api.get("/api/rooms/", {"min_peers": value}).status_code == 400
    created = api.post(
        "/api/recordings/",
        {
            "room": "r",
            "filename": "a.webm",
            "mime_type": "video/webm",
            "size": len(WEBM),
            "sha256": hashlib.sha256(WEBM).hexdigest(),
        },
        format="json",
    )
    assert created.status_code == 201
    response = api.generic(
        "PUT",
        f"/api/recordings/{created.json()['id']}/content",
        WEBM,
        content_type="application/offset+octet-stream",
        HTTP_UPLOAD_OFFSET=value,
    )
    assert response.status_code == 400
    assert "Upload-Offset" in response.json()


@pytest.mark.parametrize(
    "mime", ["video/webm\r\nX-Injected: 1", "video/webm;\ncodecs=vp8", "video/webm\x00", "vidéo/webm"]
)
def test_a_mime_type_that_cannot_be_a_header_is_refused(mime: str) -> None:
    Room.objects.create(id="r")
    api = client_for(User.objects.create_user("uploader"))
    response = api.post(
        "/api/recordings/",
        {
            "room": "r",
            "filename": "a.webm",
            "mime_type": mime,
            "size": len(WEBM),
            "sha256": hashlib.sha256(WEBM).hexdigest(),
        },
        format="json",
    )
    assert response.status_code == 400
    assert "mime_type" in response.json()
    assert not Recording.objects.exists()


@pytest.mark.parametrize("room_id", ["..", "."])
def test_a_recording_in_a_room_named_dots_is_stored_inside_its_folder(room_id: str, media: Path) -> None:
    """Such ids are refused now, but rooms of that name may be stored from before."""
    Room.objects.create(id=room_id)
    api = client_for(User.objects.create_user("uploader"))
    created = api.post(
        "/api/recordings/",
        {
            "room": room_id,
            "filename": "a.webm",
            "mime_type": "video/webm",
            "size": len(WEBM),
            "sha256": hashlib.sha256(WEBM).hexdigest(),
        },
        format="json",
    )
    recording_id = created.json()["id"]
    done = api.generic(
        "PUT",
        f"/api/recordings/{recording_id}/content",
        WEBM,
        content_type="application/offset+octet-stream",
        HTTP_UPLOAD_OFFSET="0",
    )
    assert done.status_code == 200
    assert done.json()["status"] == "complete"
    stored = Path(Recording.objects.get(pk=recording_id).file.path).resolve()
    assert stored.is_relative_to(media.resolve() / "recordings")


def test_ad_hoc_rooms_are_listed_to_staff_only() -> None:
    Room.objects.create(id="stored", name="Stored")
    Room.objects.create(id="free-crypto-here", ad_hoc=True)
    assert [r["id"] for r in APIClient().get("/api/rooms/").json()["results"]] == ["stored"]
    # Still reachable by id, as any anonymous room.
    assert APIClient().get("/api/rooms/free-crypto-here/").status_code == 200
    staff = User.objects.create_user("moderator", is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(codename="view_room"))
    listed = {r["id"]: r["ad_hoc"] for r in client_for(staff).get("/api/rooms/").json()["results"]}
    assert listed == {"stored": False, "free-crypto-here": True}


def test_editing_an_ad_hoc_room_keeps_it() -> None:
    Room.objects.create(id="adopted", ad_hoc=True)
    staff = User.objects.create_user("moderator", is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(content_type__app_label="rooms"))
    assert client_for(staff).patch("/api/rooms/adopted/", {"name": "Adopted"}, format="json").status_code == 200
    assert not Room.objects.get(pk="adopted").ad_hoc


def test_prune_rooms_removes_quiet_ad_hoc_rooms_only(settings: Any) -> None:
    settings.ROOMS = {"AD_HOC_ROOM_RETENTION_DAYS": 30}
    long_ago = timezone.now() - timezone.timedelta(days=45)
    recent = timezone.now() - timezone.timedelta(days=2)
    old = Room.objects.create(id="old-ad-hoc", ad_hoc=True, created_at=long_ago)
    PeerSession.objects.create(peer_id="p1", room=old, joined_at=long_ago, left_at=long_ago, leave_reason="leave")
    RoomEvent.objects.create(room=old, kind="peer_left", peer_id="p1", at=long_ago)
    busy = Room.objects.create(id="old-but-busy", ad_hoc=True, created_at=long_ago)
    RoomEvent.objects.create(room=busy, kind="peer_joined", peer_id="p2", at=recent)
    open_session = Room.objects.create(id="someone-still-in", ad_hoc=True, created_at=long_ago)
    PeerSession.objects.create(peer_id="p3", room=open_session, joined_at=long_ago)
    recorded = Room.objects.create(id="has-a-recording", ad_hoc=True, created_at=long_ago)
    Recording.objects.create(room=recorded, filename="a.webm", mime_type="video/webm", size=1, sha256="0" * 64)
    Room.objects.create(id="stored-and-quiet", created_at=long_ago)

    call_command("prune_rooms", "--dry-run")
    assert Room.objects.filter(pk="old-ad-hoc").exists()
    call_command("prune_rooms")
    assert set(Room.objects.values_list("pk", flat=True)) == {
        "old-but-busy",
        "someone-still-in",
        "has-a-recording",
        "stored-and-quiet",
    }
    assert not PeerSession.objects.filter(peer_id="p1").exists()
    assert not RoomEvent.objects.filter(peer_id="p1").exists()
    call_command("prune_rooms")  # idempotent
    assert Room.objects.count() == 4


def settings_of_a_fresh_process(key_file: Path, **env: str) -> list[str]:
    """DEBUG and SECRET_KEY as a new process of the reference project sees them, with no DJANGO_* variable set."""
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'rtcsite.settings'; django.setup(); "
        "from django.conf import settings; print(settings.DEBUG, settings.SECRET_KEY)"
    )
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**environment, "RTCSITE_SECRET_KEY_FILE": str(key_file), **env},
    )
    return done.stdout.split()


def test_no_published_key_signs_anything_and_debug_is_off(tmp_path: Path) -> None:
    debug, key = settings_of_a_fresh_process(tmp_path / "key")
    assert debug == "False"
    # A key of this install's own, kept: the same for every worker of it, and in no file of the repository.
    assert settings_of_a_fresh_process(tmp_path / "key")[1] == key
    assert len(key) >= 50
    assert (tmp_path / "key").stat().st_mode & 0o077 == 0
    assert subprocess.run(["git", "grep", "-l", key], cwd=ROOT, capture_output=True, text=True).stdout == ""
    assert settings_of_a_fresh_process(tmp_path / "another-install")[1] != key
    assert settings_of_a_fresh_process(tmp_path / "key", DJANGO_DEBUG="1")[0] == "True"
