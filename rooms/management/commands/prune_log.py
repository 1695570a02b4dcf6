"""``manage.py prune_log``: remove the lifecycle log older than the retention periods (see ``rooms.retention``)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from rooms import retention
from rooms.conf import conf
from signaling import live


class Command(BaseCommand):
    help = (
        "Remove room events, ended peer sessions and connection test reports older than "
        "ROOMS['LOG_RETENTION_DAYS'] days, and ad-hoc rooms quiet for ROOMS['AD_HOC_ROOM_RETENTION_DAYS'] days (with "
        "their log). Safe to run from cron: idempotent, in short batches; live rooms and open sessions are never "
        "touched. --archive keeps what it removes."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days", type=float, help="Remove events and ended sessions older than this (default: LOG_RETENTION_DAYS)."
        )
        parser.add_argument(
            "--room-days",
            type=float,
            help="Remove ad-hoc rooms quiet for this long (default: AD_HOC_ROOM_RETENTION_DAYS).",
        )
        parser.add_argument("--rooms-only", action="store_true", help="Quiet ad-hoc rooms only.")
        parser.add_argument("--dry-run", action="store_true", help="Count what would go; remove nothing.")
        parser.add_argument("--batch-size", type=int, default=5000, help="Rows (or rooms) per transaction.")
        parser.add_argument(
            "--archive",
            type=Path,
            metavar="FOLDER",
            help="Write what is removed there first (JSON lines, gzip), one file per table and run.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["days"] if options["days"] is not None else conf.LOG_RETENTION_DAYS
        room_days = options["room_days"] if options["room_days"] is not None else conf.AD_HOC_ROOM_RETENTION_DAYS
        batch_size = options["batch_size"]
        if batch_size < 1 or any(value is not None and value < 0 for value in (days, room_days)):
            raise CommandError("--days and --room-days must not be negative, --batch-size must be positive.")
        archive = retention.Archive(options["archive"]) if options["archive"] and not options["dry_run"] else None
        now = timezone.now()
        verb = "Would remove" if options["dry_run"] else "Removed"
        occupied: list[str] = []
        if room_days is not None:
            try:
                occupied = list(live.live_rooms())
            except live.LiveRoomsUnavailable as error:
                raise CommandError(
                    "The signaling registry cannot be reached, so live rooms cannot be told apart; nothing was removed."
                ) from error

        if options["rooms_only"]:
            pass
        elif days is None:
            self.stdout.write("Events and sessions are kept forever (ROOMS['LOG_RETENTION_DAYS'] is None).")
        else:
            cutoff = now - timedelta(days=days)
            events, sessions = retention.old_events(cutoff), retention.old_sessions(cutoff)
            if options["dry_run"]:
                counts = events.count(), sessions.count()
            else:
                counts = (
                    retention.remove_in_batches(events, batch_size, archive),
                    retention.remove_in_batches(sessions, batch_size, archive),
                )
            self.stdout.write(
                f"{verb} {counts[0]} event(s) and {counts[1]} ended session(s) older than {cutoff:%Y-%m-%d %H:%M}."
            )
            reports = retention.old_connection_tests(cutoff)
            kept = reports.count() if options["dry_run"] else retention.remove_in_batches(reports, batch_size, archive)
            self.stdout.write(f"{verb} {kept} connection test report(s) older than {cutoff:%Y-%m-%d %H:%M}.")

        if room_days is None:
            self.stdout.write("Ad-hoc rooms are kept forever (ROOMS['AD_HOC_ROOM_RETENTION_DAYS'] is None).")
        else:
            cutoff = now - timedelta(days=room_days)
            rooms = retention.quiet_ad_hoc_rooms(cutoff, occupied)
            removed = (
                rooms.count()
                if options["dry_run"]
                else retention.remove_rooms_in_batches(rooms, max(1, batch_size // 10), archive)
            )
            self.stdout.write(f"{verb} {removed} ad-hoc room(s) quiet since {cutoff:%Y-%m-%d %H:%M}.")
        if archive is not None:
            for path in archive.paths:
                self.stdout.write(f"Archived to {path}")
