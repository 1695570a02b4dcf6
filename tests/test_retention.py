"""`manage.py prune_log`: exactly the old rows go, live rooms and open sessions stay, a second run removes nothing."""

from __future__ import annotations

import gzip
import json
from datetime import timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from rooms.models import PeerSession, Recording, Room, RoomEvent
from tests.conftest import seated

pytestmark = pytest.mark.django_db


@pytest.fixture
def log(settings: Any) -> dict[str, set[Any]]:
    """A log with rows on both sides of a 30-day retention; returns the ids that must stay."""
    settings.ROOMS = {"LOG_RETENTION_DAYS": 30, "AD_HOC_ROOM_RETENTION_DAYS": 60}
    now = timezone.now()
    old, older, recent = now - timedelta(days=31), now - timedelta(days=90), now - timedelta(days=29)
    stored = Room.objects.create(id="stored", created_at=older)
    live = Room.objects.create(id="live-ad-hoc", ad_hoc=True, created_at=older)
    quiet = Room.objects.create(id="quiet-ad-hoc", ad_hoc=True, created_at=older)
    # Quiet in the log, but someone is in it right now (the registry says so).
    Room.objects.create(id="quiet-but-live", ad_hoc=True, created_at=older)
    recorded = Room.objects.create(id="recorded-ad-hoc", ad_hoc=True, created_at=older)
    Recording.objects.create(room=recorded, filename="a.webm", mime_type="video/webm", size=1, sha256="0" * 64)
    for index, at in enumerate([older, old, recent, now]):
        for room in (stored, live, recorded):
            RoomEvent.objects.create(room=room, kind="peer_joined", peer_id=f"{room.pk}-{index}", at=at)
        RoomEvent.objects.create(room=None, kind="join_rejected", at=at, detail={"room_id": "nowhere"})
    RoomEvent.objects.create(room=quiet, kind="peer_left", peer_id="q", at=older)
    PeerSession.objects.create(peer_id="q", room=quiet, joined_at=older, left_at=older, leave_reason="leave")
    # Sessions: ended long ago (go), joined long ago but ended recently (stays), still open since long ago (stays).
    PeerSession.objects.create(peer_id="ended-old", room=stored, joined_at=older, left_at=old, leave_reason="leave")
    PeerSession.objects.create(
        peer_id="ended-recently", room=stored, joined_at=older, left_at=recent, leave_reason="leave"
    )
    PeerSession.objects.create(peer_id="still-in", room=live, joined_at=older)
    PeerSession.objects.create(peer_id="new", room=stored, joined_at=recent, left_at=now, leave_reason="leave")
    return {
        "events": set(RoomEvent.objects.filter(at__gte=now - timedelta(days=30)).values_list("pk", flat=True)),
        "sessions": {"ended-recently", "still-in", "new"},
        "rooms": {"stored", "live-ad-hoc", "recorded-ad-hoc", "quiet-but-live"},
    }


def remaining() -> dict[str, set[Any]]:
    return {
        "events": set(RoomEvent.objects.values_list("pk", flat=True)),
        "sessions": set(PeerSession.objects.values_list("peer_id", flat=True)),
        "rooms": set(Room.objects.values_list("pk", flat=True)),
    }


def prune(*args: str) -> str:
    out = StringIO()
    call_command("prune_log", *args, stdout=out)
    return out.getvalue()


def test_exactly_the_old_rows_go_and_a_second_run_removes_nothing(log: dict[str, set[Any]]) -> None:
    before = remaining()
    with seated([("live-ad-hoc", "peer-live"), ("quiet-but-live", "peer-here")]):
        dry = prune("--dry-run")
        assert remaining() == before
        assert "Would remove 9 event(s) and 2 ended session(s)" in dry
        assert "Would remove 1 ad-hoc room(s)" in dry

        # Batches of two: several transactions, the same outcome.
        done = prune("--batch-size", "2")
        assert remaining() == log
        assert "Removed 9 event(s) and 2 ended session(s)" in done
        assert "Removed 1 ad-hoc room(s)" in done

        again = prune()
        assert remaining() == log
        assert "Removed 0 event(s) and 0 ended session(s)" in again
        assert "Removed 0 ad-hoc room(s)" in again


def test_the_archive_holds_exactly_what_was_removed(log: dict[str, set[Any]], tmp_path: Path) -> None:
    before = {event.pk: event.peer_id for event in RoomEvent.objects.all()}
    with seated([("live-ad-hoc", "peer-live"), ("quiet-but-live", "peer-here")]):
        out = prune("--archive", str(tmp_path), "--batch-size", "3")
    archived: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(tmp_path.iterdir()):
        assert f"Archived to {path}" in out
        table = path.name.split("-")[0]
        with gzip.open(path, "rt", encoding="utf-8") as file:
            archived.setdefault(table, []).extend(json.loads(line) for line in file)
    removed_events = set(before) - log["events"]
    assert {row["id"] for row in archived["rooms_roomevent"]} == removed_events
    assert {row["peer_id"] for row in archived["rooms_peersession"]} == {"ended-old", "q"}
    assert [row["id"] for row in archived["rooms_room"]] == ["quiet-ad-hoc"]


def test_nothing_goes_without_a_retention(log: dict[str, set[Any]], settings: Any) -> None:
    settings.ROOMS = {"LOG_RETENTION_DAYS": None, "AD_HOC_ROOM_RETENTION_DAYS": None}
    before = remaining()
    out = prune()
    assert remaining() == before
    assert "kept forever" in out


@pytest.mark.parametrize("args", [["--days", "-1"], ["--batch-size", "0"], ["--room-days", "-5"]])
def test_bad_arguments_are_refused_before_anything_goes(log: dict[str, set[Any]], args: list[str]) -> None:
    before = remaining()
    with pytest.raises(CommandError):
        prune(*args)
    assert remaining() == before


def test_an_unreachable_registry_removes_nothing(log: dict[str, set[Any]], settings: Any) -> None:
    from rtcsite.servers import free_port

    settings.SIGNALING = {**settings.SIGNALING, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    before = remaining()
    with pytest.raises(CommandError, match="registry"):
        prune()
    assert remaining() == before
