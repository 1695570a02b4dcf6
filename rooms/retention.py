"""What the log keeps, and for how long: removal of old events, old sessions and quiet ad-hoc rooms.

Everything here works in batches, each its own short transaction that deletes rows by primary key after selecting
them through an index (oldest first), so a run holds no lock for long, can be stopped at any moment, and removes
nothing twice: running it again removes only what has grown old since. Live rooms and sessions still open are never
touched. With an archive folder, each batch is written there (JSON lines, gzip) and flushed to disk before it is
deleted.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import router, transaction
from django.db.models import Model, QuerySet
from django.utils import timezone

from rooms.models import ConnectionTest, PeerSession, Room, RoomEvent


@dataclass
class Removed:
    """Rows removed (or, in a dry run, that would be) by kind."""

    events: int = 0
    sessions: int = 0
    rooms: int = 0
    archives: list[Path] = field(default_factory=list)


def old_events(cutoff: datetime) -> QuerySet[RoomEvent]:
    return RoomEvent.objects.filter(at__lt=cutoff).order_by("at", "id")


def old_sessions(cutoff: datetime) -> QuerySet[PeerSession]:
    # Read through the (joined_at, id) index: a session that ended before the cutoff began before it too.
    return PeerSession.objects.filter(joined_at__lt=cutoff, left_at__lt=cutoff).order_by("joined_at", "id")


def old_connection_tests(cutoff: datetime) -> QuerySet[ConnectionTest]:
    return ConnectionTest.objects.filter(created_at__lt=cutoff).order_by("created_at", "id")


def quiet_ad_hoc_rooms(cutoff: datetime, live: Iterable[str]) -> QuerySet[Room]:
    """Ad-hoc rooms created before the cutoff with nobody in them now, no session still open, no event and no
    departure since the cutoff, and no recording."""
    return (
        Room.objects.filter(ad_hoc=True, created_at__lt=cutoff)
        .exclude(pk__in=list(live))
        .exclude(events__at__gte=cutoff)
        # Not `sessions__left_at__isnull=True`: through the join, a room without any session would match it.
        .exclude(pk__in=PeerSession.objects.filter(left_at__isnull=True).values("room_id"))
        .exclude(sessions__left_at__gte=cutoff)
        .exclude(recordings__isnull=False)
        .order_by("pk")
    )


class Archive:
    """Rows about to be deleted, appended to ``<folder>/<table>-<time of the run>.jsonl.gz`` and synced to disk."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        self.paths: list[Path] = []

    def write(self, model: type[Model], rows: list[dict[str, Any]]) -> None:
        path = self.folder / f"{model._meta.db_table}-{self.stamp}.jsonl.gz"
        with gzip.open(path, "at", encoding="utf-8") as file:
            for row in rows:
                file.write(json.dumps(row, cls=DjangoJSONEncoder) + "\n")
        with open(path, "rb") as written:
            os.fsync(written.fileno())
        if path not in self.paths:
            self.paths.append(path)


def remove_in_batches(
    rows: QuerySet[Any],
    batch_size: int,
    archive: Archive | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Delete the rows of ``rows`` (ordered along an index), ``batch_size`` at a time, each batch in a transaction
    of its own; returns how many went."""
    model = rows.model
    removed = 0
    while True:
        with transaction.atomic(using=router.db_for_write(model)):
            if archive is not None:
                batch = list(rows.values()[:batch_size])
                ids = [row["id"] for row in batch]
                archive.write(model, batch)
            else:
                ids = list(rows.values_list("pk", flat=True)[:batch_size])
            if not ids:
                return removed
            model._default_manager.filter(pk__in=ids).delete()
        removed += len(ids)
        if progress is not None:
            progress(removed)


def remove_rooms_in_batches(rooms: QuerySet[Room], batch_size: int, archive: Archive | None = None) -> int:
    """Delete rooms with their sessions and events, ``batch_size`` rooms a transaction."""
    removed = 0
    while True:
        with transaction.atomic(using=router.db_for_write(Room)):
            ids = list(rooms.values_list("pk", flat=True)[:batch_size])
            if not ids:
                return removed
            related: list[QuerySet[Any]] = [
                RoomEvent.objects.filter(room_id__in=ids),
                PeerSession.objects.filter(room_id__in=ids),
                Room.objects.filter(pk__in=ids),
            ]
            for rows in related:
                if archive is not None:
                    archive.write(rows.model, list(rows.values()))
                rows.delete()
        removed += len(ids)
