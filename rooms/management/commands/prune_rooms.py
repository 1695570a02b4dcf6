"""``manage.py prune_rooms``: remove ad-hoc rooms that have been quiet for the retention period."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from rooms.conf import conf
from rooms.models import PeerSession, Room, RoomEvent
from signaling.registry import RegistryUnavailable, get_registry


class Command(BaseCommand):
    help = (
        "Remove ad-hoc rooms (brought to life by a join, never stored by anyone) with no peer in them, no event and "
        "no departure for ROOMS['AD_HOC_ROOM_RETENTION_DAYS'] days and no recording, with their sessions and "
        "events. Safe to run from cron: idempotent, in small transactions."
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
        cutoff = timezone.now() - timedelta(days=days)
        try:
            live = list(get_registry().live_rooms())
        except RegistryUnavailable as error:
            raise CommandError("The signaling registry cannot be reached, so live rooms cannot be told apart; "
                               "nothing was removed.") from error
        quiet = (
            Room.objects.filter(ad_hoc=True, created_at__lt=cutoff)
            .exclude(pk__in=live)
            .exclude(events__at__gte=cutoff)
            .exclude(sessions__left_at__isnull=True)
            .exclude(sessions__left_at__gte=cutoff)
            .exclude(recordings__isnull=False)
            .order_by("pk")
        )
        if options["dry_run"]:
            self.stdout.write(f"Would remove {quiet.count()} ad-hoc room(s) quiet since {cutoff:%Y-%m-%d %H:%M}.")
            return
        removed = 0
        while True:
            ids = list(quiet.values_list("pk", flat=True)[: options["batch_size"]])
            if not ids:
                break
            with transaction.atomic():
                RoomEvent.objects.filter(room_id__in=ids).delete()
                PeerSession.objects.filter(room_id__in=ids).delete()
                Room.objects.filter(pk__in=ids).delete()
            removed += len(ids)
        self.stdout.write(f"Removed {removed} ad-hoc room(s) quiet since {cutoff:%Y-%m-%d %H:%M}.")
