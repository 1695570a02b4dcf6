"""Pages of the REST API's listings.

Rooms are paged by number (``?page=``, ``?page_size=``), with a ``count``: a site has thousands of rooms, cheap to
count. A room's events are paged by cursor (``?cursor=`` from ``next`` / ``previous``, ``?page_size=``), newest
first, without a count: a busy room has hundreds of thousands of events, and a cursor reaches any depth of them with
one short walk of the (room, at, id) index where a page number would make the database skip every row before it.
"""

from __future__ import annotations

from base64 import b64encode
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor, CursorPagination, PageNumberPagination
from rest_framework.request import Request


class StandardPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class EventCursorPagination(CursorPagination):
    """Events newest first by (at, id); the cursor holds the ``at`` of the page's edge (and how many events of that
    same instant were already listed)."""

    ordering = ("-at", "-id")
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 500

    def decode_cursor(self, request: Request) -> Cursor | None:
        cursor: Cursor | None = super().decode_cursor(request)
        # A cursor is ours only if its position is an instant: anything else would reach the database as a filter
        # it cannot read (an error of the server's) rather than as the client's mistake.
        if cursor is not None and cursor.position is not None:
            position = parse_datetime_or_none(str(cursor.position))
            if position is None or timezone.is_naive(position):
                raise NotFound(self.invalid_cursor_message)
        return cursor

    @staticmethod
    def cursor_for(at: datetime, offset: int = 0) -> str:
        """The cursor of the page that begins just after the events at ``at`` (the first ``offset`` of those
        excepted) — what a client following ``next`` would be given there."""
        tokens: dict[str, Any] = {"p": str(at)}
        if offset:
            tokens["o"] = str(offset)
        return b64encode(urlencode(tokens).encode("ascii")).decode("ascii")


def parse_datetime_or_none(text: str) -> datetime | None:
    try:
        return parse_datetime(text)
    except ValueError:
        return None
