"""Queries on the lifecycle log (``PeerSession``, ``RoomEvent``) that stay short walks of an index at any size.

The log grows without end (millions of rows on a busy site); what reads it must never scan it whole:

- ``LogQuerySet.datetimes()`` answers "which years / months / days have rows" (the admin's date drill-down) with one
  index probe per period that has rows, instead of Django's ``SELECT DISTINCT DATE_TRUNC(...)`` over every row;
- ``CappedCountPaginator`` counts at most a bound of rows instead of ``COUNT(*)`` over the table, and offers only
  the pages within that bound (deep pages are reached by narrowing: a date, a filter, a search);
- ``rooms.models.rooms_matching`` (beside the ``Room`` it reads) turns a search term into the ids of the rooms it
  names, so the log is then read by its room index rather than by ``LIKE '%term%'`` across joined tables.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, tzinfo
from typing import Any, Literal, TypeVar

from django.conf import settings
from django.core.paginator import EmptyPage, Paginator
from django.db import models
from django.utils import timezone
from django.utils.functional import cached_property

M = TypeVar("M", bound=models.Model)

#: Periods ``datetimes()`` finds one probe each; more than this falls back to Django's own query.
MAX_PROBED_PERIODS = 400
#: Rooms a search term may name (by id, id prefix or part of the name) before the rest are left out.
MAX_MATCHED_ROOMS = 1000


class LogQuerySet(models.QuerySet[M]):
    """The log's querysets: ``datetimes()`` by index probes (see the module's docstring)."""

    def datetimes(
        self,
        field_name: str,
        kind: Literal["year", "month", "week", "day", "hour", "minute", "second"],
        order: Literal["ASC", "DESC"] = "ASC",
        tzinfo: tzinfo | None = None,
    ) -> Any:
        if kind not in ("year", "month", "day"):
            return super().datetimes(field_name, kind, order, tzinfo)
        zone = (tzinfo or timezone.get_current_timezone()) if settings.USE_TZ else None
        # A loose index scan: the first row at or after the start of each period left is one probe of the index
        # ending in this field, and it names the next period that has rows; empty periods cost nothing.
        present: list[datetime] = []
        lower: datetime | None = None
        while len(present) <= MAX_PROBED_PERIODS:
            rows = self if lower is None else self.filter(**{f"{field_name}__gte": lower})
            first = rows.order_by(field_name).values_list(field_name, flat=True).first()
            if first is None:
                return present[::-1] if order == "DESC" else present
            period = _truncate(timezone.localtime(first, zone) if zone else first, kind, zone)
            present.append(period)
            lower = _next_start(period, kind, zone)
        return super().datetimes(field_name, kind, order, tzinfo)


def _truncate(moment: datetime, kind: str, zone: tzinfo | None) -> datetime:
    if kind == "year":
        return datetime(moment.year, 1, 1, tzinfo=zone)
    if kind == "month":
        return datetime(moment.year, moment.month, 1, tzinfo=zone)
    return datetime(moment.year, moment.month, moment.day, tzinfo=zone)


def _next_start(start: datetime, kind: str, zone: tzinfo | None) -> datetime:
    if kind == "year":
        return datetime(start.year + 1, 1, 1, tzinfo=zone)
    if kind == "month":
        return datetime(start.year + start.month // 12, start.month % 12 + 1, 1, tzinfo=zone)
    following = start.date() + timedelta(days=1)
    return datetime(following.year, following.month, following.day, tzinfo=zone)


class CappedCountPaginator(Paginator):  # type: ignore[type-arg]
    """A paginator that counts no further than ``limit`` rows: ``count`` is at most ``limit``, ``capped`` says
    whether there are more, and a page number past the last one offered shows the last one."""

    #: Rows counted and offered; set by the admin from ``ROOMS["ADMIN_LOG_ROWS"]``.
    limit = 10_000

    @cached_property
    def counted(self) -> int:
        # COUNT(*) over a LIMIT subquery: stops after limit + 1 rows whatever the table's size. Unordered: which rows
        # are counted does not change the number, and without an order the database may count the first ones any
        # index gives it (index-only, on a vacuumed table) instead of sorting the matches by time first.
        rows: Any = self.object_list
        return int(rows.order_by()[: self.limit + 1].count())

    @cached_property
    def count(self) -> int:
        return min(self.counted, self.limit)

    @property
    def capped(self) -> bool:
        return self.counted > self.limit

    @cached_property
    def num_pages(self) -> int:
        if self.count == 0 and not self.allow_empty_first_page:
            return 0
        return max(1, math.ceil(max(self.count - self.orphans, 1) / self.per_page))

    def validate_number(self, number: Any) -> int:
        try:
            return super().validate_number(number)
        except EmptyPage:
            # Past the last page offered (a bookmarked deep page): the last one, rather than an error page. (A
            # number below 1 stays an error; EmptyPage comes only after the number was read as a whole number.)
            if int(float(number)) > 1:
                return int(self.num_pages)
            raise
