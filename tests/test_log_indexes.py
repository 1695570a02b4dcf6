"""The log's pages stay short index walks on PostgreSQL, whatever the table's size (a class of defects: any log query
that loses its index, or counts or lists distinct dates over the whole table, fails here).

A log with a busy room and a quiet one (silent for two months while the others stayed busy) is loaded into the
PostgreSQL test database. Every query that the admin's log pages (each filter, search kind, date level, a deep page,
a room's page) and the REST events API run is executed again under ``EXPLAIN ANALYZE``, and the rows it read from
the log tables are counted: a query that walks an index in the wrong order or scans a table reads tens of
thousands where its page needs hundreds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import User
from django.db import connections
from django.test import Client
from django.test.utils import CaptureQueriesContext

from bench.scale_data import BUSY_ROOM, QUIET_ROOM, Volume, load
from rooms.models import PeerSession, Room, RoomEvent, rooms_matching
from rooms.pagination import EventCursorPagination
from rtcsite.servers import ROOT, PostgresDatabase
from tests.routing import using_database

pytestmark = pytest.mark.django_db(databases=["default", "postgres"])

LOG_TABLES = {PeerSession._meta.db_table, RoomEvent._meta.db_table}
#: Rows the admin's log pages count at most in these tests (ROOMS["ADMIN_LOG_ROWS"]).
COUNTED = 500
#: Rows any one query may read from a log table: the count's bound and a page, with room to spare; the log holds
#: about 80,000 events and 20,000 sessions, a fifth of them in the busy room.
MOST_ROWS_READ = 2 * COUNTED + 1000


@pytest.fixture(scope="module")
def scale_log(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    with django_db_blocker.unblock(), using_database("postgres"):
        load(Volume(rooms=400, sessions=20_000, recordings=100, users=50), using="postgres")
        User.objects.create_superuser("log-admin", password="unused")
    yield
    with django_db_blocker.unblock(), connections["postgres"].cursor() as cursor:
        cursor.execute("TRUNCATE rooms_roomevent, rooms_peersession, rooms_recording, rooms_room, auth_user CASCADE")


@pytest.fixture
def admin(scale_log: None, settings: Any) -> Iterator[Client]:
    settings.ROOMS = {"ADMIN_LOG_ROWS": COUNTED}
    with using_database("postgres"):
        client = Client()
        client.force_login(User.objects.get(username="log-admin"))
        yield client


def rows_read(sql: str) -> int:
    """Rows the statement reads from the log tables (returned, or read and thrown away by a filter)."""
    with connections["postgres"].cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql)
        (plan,) = cursor.fetchone()
    plan = json.loads(plan) if isinstance(plan, str) else plan

    def walk(node: dict[str, Any]) -> int:
        read = 0
        if node.get("Relation Name") in LOG_TABLES:
            per_loop = (
                node.get("Actual Rows", 0)
                + node.get("Rows Removed by Filter", 0)
                + node.get("Rows Removed by Index Recheck", 0)
            )
            read += per_loop * node.get("Actual Loops", 1)
        return read + sum(walk(child) for child in node.get("Plans", []))

    return walk(plan[0]["Plan"])


def log_statements(client: Client, url: str) -> list[str]:
    """The SELECTs on the log tables that a page runs (its response must be a success)."""
    with CaptureQueriesContext(connections["postgres"]) as captured:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    statements = []
    for query in captured.captured_queries:
        sql = query["sql"]
        if " FOR SELECT " in sql and sql.startswith("DECLARE"):
            sql = sql[sql.index(" FOR SELECT ") + len(" FOR ") :]
        if sql.startswith("SELECT") and any(f'"{table}"' in sql for table in LOG_TABLES):
            statements.append(sql)
    return statements


def admin_urls() -> list[str]:
    """Every page of the log admins worth a look: each filter choice, each kind of search, each date level, a page
    far beyond the counted rows, a quiet room's history links, and the room pages with their recent-log inlines."""
    from bench.scale import admin_filter_urls

    staff = User.objects.get(username="log-admin")
    quiet_peer = PeerSession.objects.filter(room_id=QUIET_ROOM).values_list("peer_id", flat=True).first()
    session = PeerSession.objects.exclude(user=None).exclude(client_address=None).order_by("-id").first()
    assert session is not None
    assert session.user is not None
    quiet_day = PeerSession.objects.filter(room_id=QUIET_ROOM).values_list("joined_at", flat=True).first()
    assert quiet_day is not None
    urls = [f"/admin/rooms/room/{QUIET_ROOM}/change/", f"/admin/rooms/room/{BUSY_ROOM}/change/"]
    for model, date_field in ((PeerSession, "joined_at"), (RoomEvent, "at")):
        base = f"/admin/rooms/{model._meta.model_name}/"
        urls += [
            base,
            f"{base}?p=9999",
            f"{base}?_facets=True",
            f"{base}?room__id__exact={QUIET_ROOM}",
            f"{base}?room__id__exact={BUSY_ROOM}",
        ]
        urls += [url for _, url in admin_filter_urls(model, staff)]
        urls += [f"{base}?q={term}" for term in (quiet_peer, QUIET_ROOM, BUSY_ROOM, "room-1", "number 7", "nothing")]
        year, month, day = f"{date_field}__year", f"{date_field}__month", f"{date_field}__day"
        urls += [
            f"{base}?{year}={quiet_day.year}",
            f"{base}?{year}={quiet_day.year}&{month}={quiet_day.month}",
            f"{base}?{year}={quiet_day.year}&{month}={quiet_day.month}&{day}={quiet_day.day}",
            f"{base}?room__id__exact={QUIET_ROOM}&{year}={quiet_day.year}",
        ]
    sessions = "/admin/rooms/peersession/"
    urls += [f"{sessions}?q={session.user.username}", f"{sessions}?q={session.client_address}"]
    return urls


def api_urls() -> list[str]:
    deep = RoomEvent.objects.filter(room_id=BUSY_ROOM).order_by("-at", "-id").values_list("at", flat=True)[5000]
    urls = []
    for room in (QUIET_ROOM, BUSY_ROOM):
        events = f"/api/rooms/{room}/events/"
        urls += [
            events,
            f"{events}?kind=peer_left",
            f"{events}?since=2000-01-01T00:00:00Z",
            f"{events}?until=2000-01-01T00:00:00Z&kind=room_created",
        ]
    cursor = EventCursorPagination.cursor_for(deep)
    return [*urls, f"/api/rooms/{BUSY_ROOM}/events/?cursor={cursor}"]


def rows_matched(url: str) -> int:
    """Log rows of the rooms a search names when it names several. No one index holds several rooms' rows in time
    order, so such a search either reads those rooms' rows through the room index and sorts them, or walks the
    time index until its page is full (about page x table / matched rows); the database picks the cheaper, and a
    bounded one of the two is all that is asked. A search that names one room, a peer, a user or an address reads
    no more than its page."""
    query = parse_qs(urlsplit(url).query)
    if "q" not in query:
        return 0
    rooms = rooms_matching(query["q"][0])
    if len(rooms) < 2:
        return 0
    model = PeerSession if "/peersession/" in url else RoomEvent
    return model.objects.filter(room_id__in=rooms).count()


def test_every_log_page_reads_only_what_it_shows(admin: Client) -> None:
    worst: dict[str, tuple[int, str]] = {}
    urls = admin_urls() + api_urls()
    assert len(urls) > 50
    for url in urls:
        for sql in log_statements(admin, url):
            read = rows_read(sql)
            if read > worst.get(url, (-1, ""))[0]:
                worst[url] = (read, sql)
    too_many = {url: found for url, found in worst.items() if found[0] > 3 * (MOST_ROWS_READ + rows_matched(url))}
    assert not too_many, "\n\n".join(f"{url}: {read} rows\n{sql}" for url, (read, sql) in too_many.items())


def test_no_log_page_counts_or_lists_dates_over_the_whole_table(admin: Client) -> None:
    for url in admin_urls():
        for sql in log_statements(admin, url):
            assert "DISTINCT" not in sql.upper(), (url, sql)
            if "COUNT(" in sql.upper():
                assert " LIMIT " in sql.upper(), (url, sql)


def test_the_check_fails_when_an_index_is_lost(admin: Client) -> None:
    """The measure above can fail: without the (room, at, id) index, a quiet room's events are found by walking
    two months of everybody's events."""
    url = f"/api/rooms/{QUIET_ROOM}/events/"
    assert max(rows_read(sql) for sql in log_statements(admin, url)) <= MOST_ROWS_READ
    with connections["postgres"].cursor() as cursor:
        cursor.execute("DROP INDEX rooms_event_room_at")  # rolled back with the test's transaction
    assert max(rows_read(sql) for sql in log_statements(admin, url)) > 10 * MOST_ROWS_READ


def test_the_recorder_closes_sessions_of_earlier_batches_on_postgresql(scale_log: None) -> None:
    from django.utils import timezone

    from rooms.recorder import Record, write_batch

    with using_database("postgres"):
        now = timezone.now()
        joins = [
            Record(
                "peer_joined",
                {
                    "room_id": "pg-room",
                    "peer_id": f"pg-{n}",
                    "at": now,
                    "user_id": None,
                    "client_address": "10.0.0.1",
                    "user_agent": "test",
                },
            )
            for n in range(1500)
        ]
        write_batch(joins)
        left = timezone.now()
        write_batch(
            [
                Record("peer_left", {"room_id": "pg-room", "peer_id": f"pg-{n}", "at": left, "reason": "kicked"})
                for n in range(1500)
            ]
        )
        # A second departure of the same peer (a duplicate) changes nothing.
        write_batch(
            [Record("peer_left", {"room_id": "pg-room", "peer_id": "pg-0", "at": timezone.now(), "reason": "timeout"})]
        )
        closed = PeerSession.objects.filter(room_id="pg-room")
        assert closed.count() == 1500
        assert set(closed.values_list("left_at", "leave_reason").distinct()) == {(left, "kicked")}
        assert RoomEvent.objects.filter(room_id="pg-room").count() == 3001
        assert Room.objects.get(pk="pg-room").ad_hoc


def test_the_index_migration_builds_and_drops_concurrently() -> None:
    """Applied to a filled table, migration 0005 creates and drops every index CONCURRENTLY (no write waits for a
    build) and leaves none invalid."""
    script = (
        "import json, django; django.setup()\n"
        "from django.core.management import call_command\n"
        "from django.db import connection\n"
        "from django.test.utils import CaptureQueriesContext\n"
        "call_command('migrate', 'rooms', '0004', verbosity=0)\n"
        "with connection.cursor() as c:\n"
        '    c.execute("INSERT INTO rooms_room (id, name, is_open, access, ad_hoc, created_at, updated_at) '
        "VALUES ('r', '', true, 'anonymous', false, now(), now())\")\n"
        '    c.execute("INSERT INTO rooms_roomevent (room_id, kind, peer_id, at, detail) '
        "SELECT 'r', 'peer_joined', 'p' || g, now(), '{}' FROM generate_series(1, 5000) g\")\n"
        "with CaptureQueriesContext(connection) as captured:\n"
        "    call_command('migrate', 'rooms', '0005', verbosity=0)\n"
        "with connection.cursor() as c:\n"
        "    c.execute('SELECT count(*) FROM pg_index WHERE NOT indisvalid')\n"
        "    invalid = c.fetchone()[0]\n"
        "print(json.dumps({'sql': [q['sql'] for q in captured.captured_queries], 'invalid': invalid}))\n"
    )
    with PostgresDatabase() as database:
        done = subprocess.run(
            [sys.executable, "-c", script],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            env={
                **os.environ,
                "DJANGO_SETTINGS_MODULE": "rtcsite.settings",
                "RTCSITE_DATABASE_URL": database.url,
                "DJANGO_SECRET_KEY": "test-" + "k" * 50,
            },
        )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    ddl = [sql for sql in result["sql"] if sql.upper().startswith(("CREATE INDEX", "DROP INDEX"))]
    created = [sql for sql in ddl if sql.upper().startswith("CREATE INDEX")]
    dropped = [sql for sql in ddl if sql.upper().startswith("DROP INDEX")]
    assert len(created) == 9, ddl
    assert len(dropped) >= 6, ddl
    assert all("CONCURRENTLY" in sql.upper() for sql in ddl), ddl
    assert result["invalid"] == 0
