"""``manage.py prune_rooms``: remove ad-hoc rooms that have been quiet for the retention period.

The room part of ``prune_log`` (which also removes old events and sessions), kept for the crontabs that call it."""

from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from rooms.conf import conf


class Command(BaseCommand):
    help = (
        "Remove ad-hoc rooms (brought to life by a join, never stored by anyone) with no peer in them, no event and "
        "no departure for ROOMS['AD_HOC_ROOM_RETENTION_DAYS'] days and no recording, with their sessions and "
        "events. Safe to run from cron: idempotent, in small transactions. `prune_log` does this and more."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=float, help="Quiet for this many days (default: the setting).")
        parser.add_argument("--dry-run", action="store_true", help="Count what would go; remove nothing.")
        parser.add_argument("--batch-size", type=int, default=500, help="Rooms removed per transaction.")

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["days"] if options["days"] is not None else conf.AD_HOC_ROOM_RETENTION_DAYS
        if days is None:
            self.stdout.write("Ad-hoc rooms are kept forever (ROOMS['AD_HOC_ROOM_RETENTION_DAYS'] is None).")
            return
        if days < 0 or options["batch_size"] < 1:
            raise CommandError("--days must not be negative and --batch-size must be positive.")
        call_command(
            "prune_log",
            rooms_only=True,
            room_days=days,
            dry_run=options["dry_run"],
            batch_size=options["batch_size"] * 10,
            stdout=self.stdout,
        )
