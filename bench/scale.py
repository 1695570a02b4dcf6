"""Scale benchmark of the lifecycle log: ``.venv/bin/python -m bench.scale`` (``--factor 0.05`` for a quick run).

Loads a three-month site's log into a PostgreSQL database of its own (kept between runs, per factor; ``--reload``
makes it anew), then times, in this process through Django's full request path, the admin pages and REST calls a
site's staff use, every admin changelist with each of its filter choices, and the recorder. Each page is timed cold
(its first request, on a new database connection) and warm (the median of the next three); targets are printed
beside them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import django

TARGET_MS = 300.0
EVENTS_PER_SECOND_TARGET = 5_000.0


def setup(database_url: str) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    os.environ["RTCSITE_DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-scale-" + os.urandom(16).hex())
    django.setup()


def ensure_database(admin_url: str, name: str, reload: bool) -> bool:
    """Create the database if needed; True if it must be loaded."""
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and reload:
            connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            connection.execute(f'CREATE DATABASE "{name}"')
    return not exists


class Timer:
    def __init__(self, repeat: int) -> None:
        self.repeat = repeat
        self.rows: list[tuple[str, float, float]] = []

    def page(self, label: str, fetch: Callable[[], Any]) -> tuple[float, float]:
        from django.db import connections

        connections.close_all()  # cold: a new connection, nothing of this page cached in this process
        cold = self._once(fetch)
        warm = statistics.median(self._once(fetch) for _ in range(self.repeat))
        self.rows.append((label, cold, warm))
        met = cold < TARGET_MS and warm < TARGET_MS
        print(f"  {label:<78} {cold:>8.0f} {warm:>8.0f}   {'met' if met else 'NOT met'}", flush=True)
        return cold, warm

    @staticmethod
    def _once(fetch: Callable[[], Any]) -> float:
        started = time.perf_counter()
        response = fetch()
        elapsed = (time.perf_counter() - started) * 1000
        status = getattr(response, "status_code", 200)
        if status != 200:
            raise SystemExit(f"{status} from the page being timed: {getattr(response, 'content', b'')[:300]!r}")
        return elapsed


def admin_filter_urls(model: type, user: Any) -> list[tuple[str, str]]:
    """Every filter choice of a model's admin changelist, as (label, URL)."""
    from django.contrib import admin
    from django.test import RequestFactory

    model_admin = admin.site._registry[model]
    base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
    request = RequestFactory().get(base)
    request.user = user
    request._messages = _Messages()  # type: ignore[attr-defined]
    changelist = model_admin.get_changelist_instance(request)
    urls = []
    for spec in changelist.filter_specs:
        for choice in spec.choices(changelist):
            query = choice["query_string"]
            if query and query != "?":
                urls.append((f"{spec.title}: {choice['display']}", base + query))
    return urls


class _Messages:
    def add(self, *args: Any, **kwargs: Any) -> None:
        pass


def run_pages(timer: Timer) -> None:
    from django.contrib.auth import get_user_model
    from django.test import Client
    from rest_framework.authtoken.models import Token

    from bench.scale_data import BUSY_ROOM, QUIET_ROOM
    from rooms.models import PeerSession, Recording, Room, RoomEvent

    User = get_user_model()
    staff, _ = User.objects.get_or_create(username="bench-staff", defaults={"is_staff": True, "is_superuser": True})
    staff.set_password("bench-password")
    staff.save()
    token, _ = Token.objects.get_or_create(user=staff)
    client = Client(HTTP_HOST="localhost")
    client.force_login(staff)
    quiet_peer = PeerSession.objects.filter(room_id=QUIET_ROOM).values_list("peer_id", flat=True).first()
    some_peer = PeerSession.objects.order_by("-id").values_list("peer_id", flat=True)[1000]
    some_user = User.objects.filter(username__startswith="user").order_by("id").values_list("username", flat=True)[7]

    print(f"\n  {'page (ms)':<78} {'cold':>8} {'warm':>8}   target < {TARGET_MS:.0f} ms both")
    get = client.get
    timer.page("admin: a quiet room's change page", lambda: get(f"/admin/rooms/room/{QUIET_ROOM}/change/"))
    timer.page("admin: the busiest room's change page", lambda: get(f"/admin/rooms/room/{BUSY_ROOM}/change/"))
    for term, what in (
        (some_peer, "a peer id"),
        (BUSY_ROOM, "a room id"),
        ("room-12", "a room id's beginning"),
        (some_user, "a user name"),
        ("10.7.3.8", "an address"),
        ("number 42", "a room name's part"),
    ):
        timer.page(
            f"admin: peer sessions search, {what}", lambda term=term: get("/admin/rooms/peersession/", {"q": term})
        )
    timer.page("admin: room events changelist (unfiltered)", lambda: get("/admin/rooms/roomevent/"))
    for term, what in (
        (quiet_peer, "a peer id"),
        (QUIET_ROOM, "a quiet room's id"),
        ("room-12", "a room id's beginning"),
    ):
        timer.page(f"admin: room events search, {what}", lambda term=term: get("/admin/rooms/roomevent/", {"q": term}))
    timer.page("admin: room events page 20,000", lambda: get("/admin/rooms/roomevent/", {"p": 20_000}))
    timer.page("admin: peer sessions page 5,000", lambda: get("/admin/rooms/peersession/", {"p": 5_000}))
    timer.page(
        "admin: a quiet room's events (history link)",
        lambda: get("/admin/rooms/roomevent/", {"room__id__exact": QUIET_ROOM}),
    )
    timer.page(
        "admin: a quiet room's sessions (history link)",
        lambda: get("/admin/rooms/peersession/", {"room__id__exact": QUIET_ROOM}),
    )
    for model in (Room, PeerSession, RoomEvent, Recording):
        name = model._meta.verbose_name_plural
        timer.page(f"admin: {name} changelist", lambda model=model: get(f"/admin/rooms/{model._meta.model_name}/"))
        for label, url in admin_filter_urls(model, staff):
            timer.page(f"admin: {name}, {label}", lambda url=url: get(url))

    api = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Token {token.key}")
    events = f"/api/rooms/{BUSY_ROOM}/events/"
    timer.page("REST (token): a quiet room's events, first page", lambda: api.get(f"/api/rooms/{QUIET_ROOM}/events/"))
    timer.page("REST (token): the busiest room's events, first page", lambda: api.get(events))
    deep = deep_events_url(events, api, depth=300_000)
    timer.page("REST (token): the busiest room's events, 300,000 events deep", lambda: api.get(deep))
    timer.page("REST (token): rooms list", lambda: api.get("/api/rooms/"))
    timer.page("REST (token): rooms search", lambda: api.get("/api/rooms/", {"search": "number 42"}))
    basic = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION="Basic " + _basic("bench-staff", "bench-password"))
    timer.page("REST (HTTP Basic, the password hashed every time): rooms list", lambda: basic.get("/api/rooms/"))


def _basic(username: str, password: str) -> str:
    import base64

    return base64.b64encode(f"{username}:{password}".encode()).decode()


def deep_events_url(events_url: str, api: Any, depth: int) -> str:
    """The URL of the page ``depth`` events into a room's list, as a client following ``next`` would reach it."""
    from bench.scale_data import BUSY_ROOM
    from rooms.models import RoomEvent
    from rooms.pagination import EventCursorPagination

    events = RoomEvent.objects.filter(room_id=BUSY_ROOM)
    edge = events.order_by("-at", "-id").values_list("at", flat=True)[depth : depth + 1].first()
    if edge is None:  # a small factor: the room's oldest event
        edge = events.order_by("at", "id").values_list("at", flat=True).first()
    return events_url + "?" + urlencode({"cursor": EventCursorPagination.cursor_for(edge)})


def run_recorder() -> None:
    from bench.recorder_load import bursts, sustained

    print(f"\n  {'recorder':<62} {'measured':>24}   target")
    for size in (1_000, 10_000):
        result = bursts(size)
        met = result.events_per_second >= EVENTS_PER_SECOND_TARGET
        print(
            f"  {f'bursts of {size:,} events (joins, then their leaves)':<62} "
            f"{result.events_per_second:>18,.0f} ev/s   >= {EVENTS_PER_SECOND_TARGET:,.0f}/s "
            f"{'met' if met else 'NOT met'}",
            flush=True,
        )
        if result.lost:
            print(f"    LOST {result.lost} events")
    result = asyncio.run(sustained(joins_per_second=500, seconds=10))
    met = result.lost == 0 and result.lag_seconds < 1.0
    print(
        f"  {'500 joins/s (and their leaves) for 10 s, one event at a time':<62} "
        f"{f'{result.lag_seconds * 1000:,.0f} ms behind at the end, {result.lost} lost':>27}   "
        f"< 1 s, 0 lost {'met' if met else 'NOT met'}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.splitlines()[0])
    parser.add_argument("--factor", type=float, default=1.0, help="Scale of the volume (1: three months' log).")
    parser.add_argument(
        "--postgres", default=os.environ.get("RTC_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    parser.add_argument("--reload", action="store_true", help="Drop and load the database again.")
    parser.add_argument("--repeat", type=int, default=3, help="Warm runs of each page (the median is printed).")
    parser.add_argument("--skip-pages", action="store_true")
    parser.add_argument("--skip-recorder", action="store_true")
    options = parser.parse_args(argv)
    name = f"rtc_bench_scale_{str(options.factor).replace('.', '_')}"
    must_load = ensure_database(options.postgres, name, options.reload)
    setup(options.postgres.rsplit("/", 1)[0] + f"/{name}")

    from django.core.management import call_command

    from bench import scale_data

    call_command("migrate", verbosity=0)
    volume = scale_data.Volume.at(options.factor)
    if must_load:
        started = time.perf_counter()
        print(f"Loading {volume} into {name} ...", flush=True)
        scale_data.load(volume)
        print(f"  loaded in {time.perf_counter() - started:,.0f} s", flush=True)
    from django.db import connection

    version = connection.cursor().connection.info.server_version
    print(
        f"Lifecycle log at factor {options.factor} on PostgreSQL {version // 10000}.{version % 10000}: "
        + ", ".join(f"{table.removeprefix('rooms_')} {count:,}" for table, count in scale_data.counts().items())
    )
    timer = Timer(options.repeat)
    if not options.skip_pages:
        run_pages(timer)
        missed = [label for label, cold, warm in timer.rows if cold >= TARGET_MS or warm >= TARGET_MS]
        print(
            f"\n  {len(timer.rows) - len(missed)} of {len(timer.rows)} pages met the target"
            + (f"; missed: {', '.join(missed)}" if missed else "")
        )
    if not options.skip_recorder:
        run_recorder()


if __name__ == "__main__":
    sys.exit(main())
