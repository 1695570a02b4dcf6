from __future__ import annotations

import ipaddress
import re
import uuid
from typing import Any, ClassVar
from urllib.parse import urlencode

from asgiref.sync import async_to_sync
from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from rooms import server_recording
from rooms.bans import BAN_CHOICES, CannotBan, ban_peer
from rooms.conf import conf
from rooms.logqueries import CappedCountPaginator
from rooms.models import ConnectionTest, PeerSession, Recording, Room, RoomBan, RoomEvent, rooms_matching
from rooms.uploads import delete_recording
from signaling import live

UNAVAILABLE = "Live peer counts are unavailable: the signaling registry cannot be reached."


class LiveFilter(admin.SimpleListFilter):
    """Rooms with peers in them right now, as the signaling registry sees them."""

    title = "live"
    parameter_name = "live"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "With peers now"), ("no", "Empty")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        if self.value() not in ("yes", "no"):
            return None
        try:
            occupied = list(live.live_rooms())
        except live.LiveRoomsUnavailable:
            messages.warning(request, UNAVAILABLE)
            return queryset.none()
        return queryset.filter(pk__in=occupied) if self.value() == "yes" else queryset.exclude(pk__in=occupied)


class ReadOnlyInline(admin.TabularInline):  # type: ignore[type-arg]
    """A log shown on its room's page: the most recent rows only, never edited here."""

    extra = 0
    can_delete = False
    show_change_link = True
    #: Rows shown; the full list is one click away in the model's own changelist.
    limit = 20
    order_by: tuple[str, ...] = ()

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request)
        match = request.resolver_match
        object_id = match.kwargs.get("object_id") if match else None
        if object_id is None:
            return queryset.none()
        # The formset filters this queryset by room again, which a sliced queryset cannot take: select ids.
        recent = queryset.filter(room_id=unquote(object_id)).order_by(*self.order_by)[: self.limit]
        return queryset.filter(pk__in=list(recent.values_list("pk", flat=True))).order_by(*self.order_by)


class PeerSessionInline(ReadOnlyInline):
    model = PeerSession
    fields = ("peer_id", "display_name", "user", "joined_at", "left_at", "leave_reason", "client_address")
    readonly_fields = fields
    order_by = ("-joined_at", "-pk")
    verbose_name_plural = "recent peer sessions"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).select_related("user")


class RoomEventInline(ReadOnlyInline):
    model = RoomEvent
    fields = ("at", "kind", "peer_id", "detail")
    readonly_fields = fields
    order_by = ("-at", "-pk")
    verbose_name_plural = "recent events"


class RoomBanInline(admin.TabularInline):  # type: ignore[type-arg]
    model = RoomBan
    fk_name = "room"
    extra = 0
    fields = ("user", "until", "reason", "created_by", "created_at")
    readonly_fields = ("created_by", "created_at")
    autocomplete_fields = ("user",)
    verbose_name = "ban"


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "id",
        "name",
        "live_peers",
        "capacity",
        "is_open",
        "access",
        "topology",
        "ad_hoc",
        "created_at",
        "updated_at",
    )
    list_filter = (LiveFilter, "is_open", "access", "topology", "ad_hoc", "created_at")
    search_fields = ("id", "name")
    readonly_fields = (
        "live_peers",
        "capacity",
        "live_peer_list",
        "history_links",
        "ad_hoc",
        "created_at",
        "updated_at",
    )
    fields = (
        "id",
        "name",
        "max_peers",
        "capacity",
        "is_open",
        "access",
        "topology",
        "allowed_users",
        "live_peers",
        "live_peer_list",
        "history_links",
        "ad_hoc",
        "created_at",
        "updated_at",
    )
    # Searched as one types (the user admin's search): a site's users may be far too many for one list.
    autocomplete_fields = ("allowed_users",)
    inlines = (RoomBanInline, PeerSessionInline, RoomEventInline)
    actions = ("close_rooms", "reopen_rooms", "start_recording", "stop_recording")

    @admin.action(description="Close selected rooms (ends their live calls)", permissions=["change"])
    def close_rooms(self, request: HttpRequest, queryset: QuerySet[Room]) -> None:
        rooms = list(queryset)
        ended = 0
        for room in rooms:
            # Saved one by one, not updated in bulk: the save dates the change and makes the cache forget it.
            room.is_open = False
            room.save(update_fields=["is_open", "updated_at"])
            try:
                ended += async_to_sync(live.close_room)(room.pk)
            except live.LiveRoomsUnavailable:
                messages.error(
                    request,
                    f"Room {room.pk} is closed to new joins, but its live peers could not be "
                    "reached: the signaling registry is unavailable.",
                )
        messages.success(request, f"Closed {len(rooms)} room(s); {ended} peer(s) were in them.")

    @admin.action(description="Reopen selected rooms", permissions=["change"])
    def reopen_rooms(self, request: HttpRequest, queryset: QuerySet[Room]) -> None:
        rooms = list(queryset)
        for room in rooms:
            room.is_open = True
            room.save(update_fields=["is_open", "updated_at"])
        messages.success(request, f"Reopened {len(rooms)} room(s).")

    @admin.action(description="Record the calls of selected rooms on the server", permissions=["change"])
    def start_recording(self, request: HttpRequest, queryset: QuerySet[Room]) -> None:
        if not server_recording.can_record():
            messages.error(request, "This server cannot record calls: it needs the peer extra (pip install '.[peer]').")
            return
        started = []
        for room in queryset.filter(is_open=True):
            try:
                if server_recording.start_recording(room.pk):
                    started.append(room.pk)
            except live.LiveRoomsUnavailable:
                messages.error(request, UNAVAILABLE)
                return
        messages.success(
            request,
            f"Recording started in {len(started)} room(s): a recording per peer appears under "
            "Recordings as each leaves, or when the recording stops.",
        )

    @admin.action(description="Stop recording selected rooms", permissions=["change"])
    def stop_recording(self, request: HttpRequest, queryset: QuerySet[Room]) -> None:
        stopped = 0
        for room in queryset:
            try:
                stopped += async_to_sync(server_recording.stop_recording)(room.pk)
            except live.LiveRoomsUnavailable:
                messages.error(request, UNAVAILABLE)
                return
        messages.success(request, f"Stopped {stopped} recording(s); their files are saved under Recordings.")

    def save_model(self, request: HttpRequest, obj: Room, form: Any, change: bool) -> None:
        # A room someone set up here is a stored room from now on, whether or not a join brought it to life.
        obj.ad_hoc = False
        super().save_model(request, obj, form, change)
        if change and "is_open" in form.changed_data and not obj.is_open:
            try:
                ended = async_to_sync(live.close_room)(obj.pk)
            except live.LiveRoomsUnavailable:
                messages.error(request, "The room is closed to new joins, but its live peers could not be reached.")
            else:
                messages.info(request, f"The room is closed: {ended} live peer(s) were disconnected.")

    def get_readonly_fields(self, request: HttpRequest, obj: Room | None = None) -> Any:
        # The id is what peers join by; changing it would orphan the room's log.
        return ("id", *self.readonly_fields) if obj is not None else self.readonly_fields

    def get_changelist_instance(self, request: HttpRequest) -> Any:
        changelist = super().get_changelist_instance(request)
        # One registry query for the whole page rather than one per row.
        rooms = list(changelist.result_list)
        try:
            counts: dict[str, int | None] = dict(live.occupancy(room.pk for room in rooms))
        except live.LiveRoomsUnavailable:
            messages.warning(request, UNAVAILABLE)
            counts = {}
        for room in rooms:
            room.live_peer_count = counts.get(room.pk)
        return changelist

    @admin.display(description="live peers")
    def live_peers(self, room: Room) -> str:
        if hasattr(room, "live_peer_count"):
            count = room.live_peer_count
        elif not room.pk:
            count = 0
        else:
            try:
                count = live.occupancy([room.pk]).get(room.pk, 0)
            except live.LiveRoomsUnavailable:
                count = None
        return "unavailable" if count is None else str(count)

    @admin.display(description="capacity")
    def capacity(self, room: Room) -> str:
        """The capacity joins meet, and where it comes from (an empty max_peers is not "no limit")."""
        value, source = live.capacity_of(room.max_peers, room.topology)
        return f"{value} ({source})"

    @admin.display(description="in the room now")
    def live_peer_list(self, room: Room) -> str:
        """The live peers with their names, each with a kick button and a kick-and-ban button (the buttons post
        the change form, with its CSRF token, to the kick view)."""
        if not room.pk:
            return "-"
        try:
            peers = sorted(live.room_members(room.pk))
        except live.LiveRoomsUnavailable:
            return "unavailable (the signaling registry cannot be reached)"
        if not peers:
            return "nobody"
        sessions = {
            session.peer_id: session
            for session in PeerSession.objects.filter(room=room, peer_id__in=peers).select_related("user")
        }
        action = reverse("admin:rooms_room_kick", args=[quote(room.pk)])
        rows = []
        for peer_id in peers:
            session = sessions.get(peer_id)
            name = session.display_name if session else ""
            user = str(session.user) if session and session.user else "anonymous"
            ban = (
                format_html(
                    ' <button type="submit" class="button" name="_ban" value="{}" formaction="{}" formmethod="post" '
                    "formnovalidate>Kick and ban</button>",
                    peer_id,
                    action,
                )
                if session and session.user
                else ""
            )
            rows.append(
                format_html(
                    "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>"
                    '<button type="submit" class="button" name="_kick" value="{}" formaction="{}" '
                    'formmethod="post" formnovalidate>Kick</button>{}</td></tr>',
                    name or "-",
                    peer_id,
                    user,
                    peer_id,
                    action,
                    ban,
                )
            )
        choices = format_html_join("", '<option value="{}">{}</option>', BAN_CHOICES)
        return format_html(
            '<table class="live-peers"><thead><tr><th>name</th><th>peer</th><th>user</th><th></th></tr></thead>'
            '<tbody>{}</tbody></table><p>Bans last <select name="ban_minutes">{}</select>. Anonymous peers can be '
            "kicked but not banned: nothing ties them to who they are once their socket is gone.</p>",
            format_html_join("", "{}", ((row,) for row in rows)),
            choices,
        )

    def get_urls(self) -> list[Any]:
        kick = path("<path:object_id>/kick/", self.admin_site.admin_view(self.kick_view), name="rooms_room_kick")
        nodes = path("sfu-nodes/", self.admin_site.admin_view(self.sfu_nodes_view), name="rooms_room_sfu_nodes")
        return [nodes, kick, *super().get_urls()]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        context = {"sfu_nodes_configured": live.sfu_nodes_configured(), **(extra_context or {})}
        return super().changelist_view(request, context)

    def sfu_nodes_view(self, request: HttpRequest) -> HttpResponse:
        """The SFU nodes with their state, load and live rooms; Drain / Back into service for those who may change
        rooms."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        may_change = self.has_change_permission(request)
        if request.method == "POST":
            if not may_change:
                raise PermissionDenied
            name = request.POST.get("_drain") or request.POST.get("_undrain") or ""
            try:
                live.drain_sfu_node(name, draining=bool(request.POST.get("_drain")))
            except KeyError:
                messages.error(request, f"There is no SFU node {name!r}.")
            except live.LiveRoomsUnavailable:
                messages.error(request, UNAVAILABLE)
            else:
                if request.POST.get("_drain"):
                    messages.success(request, f"Draining {name}: its rooms move to the other nodes, one by one.")
                else:
                    messages.success(request, f"{name} is back in service.")
            return HttpResponseRedirect(reverse("admin:rooms_room_sfu_nodes"))
        try:
            nodes = live.sfu_nodes()
        except live.LiveRoomsUnavailable:
            nodes = []
            messages.warning(request, UNAVAILABLE)
        context = {
            **self.admin_site.each_context(request),
            "title": "SFU nodes",
            "opts": self.model._meta,
            "nodes": [
                {
                    "node": node,
                    "rooms": [
                        (room_id, reverse("admin:rooms_room_change", args=[quote(room_id)])) for room_id in node.rooms
                    ],
                    "load": f"{node.peers} / {node.capacity}" if node.capacity else str(node.peers),
                }
                for node in nodes
            ],
            "may_change": may_change,
        }
        return TemplateResponse(request, "admin/rooms/sfu_nodes.html", context)

    def kick_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Kick (and with ``_ban``, ban) one live peer of the room, from the buttons of its change page."""
        room = self.get_object(request, unquote(object_id))
        if room is None or request.method != "POST" or not self.has_change_permission(request, room):
            raise PermissionDenied
        change_page = HttpResponseRedirect(reverse("admin:rooms_room_change", args=[quote(room.pk)]))
        peer_id = request.POST.get("_ban") or request.POST.get("_kick") or ""
        try:
            if request.POST.get("_ban"):
                minutes = int(request.POST.get("ban_minutes", ""))
                if minutes not in dict(BAN_CHOICES):
                    raise ValueError(minutes)
                ban = ban_peer(room, peer_id, minutes, by=request.user)
                messages.success(
                    request, f"Kicked {peer_id} and banned {ban.user} until {ban.until:%Y-%m-%d %H:%M} UTC."
                )
            elif async_to_sync(live.kick)(room.pk, peer_id):
                messages.success(request, f"Kicked {peer_id}.")
            else:
                messages.warning(request, f"{peer_id} is not in the room any more.")
        except (ValueError, CannotBan) as error:
            messages.error(request, str(error) if isinstance(error, CannotBan) else "Choose how long the ban lasts.")
        except live.LiveRoomsUnavailable:
            messages.error(request, "The signaling registry cannot be reached: nobody was kicked.")
        return change_page

    @admin.display(description="history")
    def history_links(self, room: Room) -> str:
        if not room.pk:
            return "-"
        sessions = reverse("admin:rooms_peersession_changelist") + f"?room__id__exact={room.pk}"
        events = reverse("admin:rooms_roomevent_changelist") + f"?room__id__exact={room.pk}"
        return format_html('<a href="{}">All sessions</a> · <a href="{}">All events</a>', sessions, events)


class LogAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Rows written by the recorder: viewable, never added, changed or deleted by hand; fast at any table size.

    Every page is a short walk of one index: the count stops at ``ROOMS["ADMIN_LOG_ROWS"]`` rows (the pages within
    them are offered; older rows are reached by the date drill-down, a filter or a search), the date drill-down
    probes the index rather than listing distinct dates, the search looks rows up by exact or leading values, and
    only indexed columns sort.
    """

    show_full_result_count = False
    # Django's facet counts ("Show counts") would count every filter choice over the whole table.
    show_facets = admin.ShowFacets.NEVER
    paginator = CappedCountPaginator
    #: Columns the list may be sorted by: each is the last column of an index that every filter shares.
    sortable_by: ClassVar[list[str] | tuple[str, ...] | None] = ()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_paginator(
        self,
        request: HttpRequest,
        queryset: QuerySet[Any],
        per_page: int,
        orphans: int = 0,
        allow_empty_first_page: bool = True,
    ) -> Paginator:  # type: ignore[type-arg]
        paginator = CappedCountPaginator(queryset, per_page, orphans, allow_empty_first_page)
        paginator.limit = conf.ADMIN_LOG_ROWS
        return paginator

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        conditions = self.search_conditions(term)
        if not conditions:
            return queryset.none(), False
        condition = conditions[0]
        for other in conditions[1:]:
            condition |= other
        return queryset.filter(condition), False

    def search_conditions(self, term: str) -> list[Q]:
        """What a search term finds, one condition per kind of thing it names: the peer id itself, or the rooms it
        names (by id, the id's beginning, or part of the name). Each is looked up first (an index probe), and only
        those that find something are kept, so the log is read through the one index that fits rather than an OR
        of several columns, which the database cannot bound (nor ever a ``LIKE '%term%'`` over the log)."""
        conditions = []
        if self.model._default_manager.filter(peer_id=term).exists():
            conditions.append(Q(peer_id=term))
        rooms = rooms_matching(term)
        if rooms:
            conditions.append(Q(room_id__in=rooms))
        return conditions

    def get_changelist_instance(self, request: HttpRequest) -> Any:
        changelist = super().get_changelist_instance(request)
        if changelist.query:
            # Search results are found through their own index; listing their dates would walk the date index
            # looking for them. The drill-down is back once the search is cleared.
            changelist.date_hierarchy = None
        return changelist


def user_named(term: str) -> list[Q]:
    """The condition for the rows of the user whose user name is exactly ``term``; none when there is no such user
    (looked up first: one index probe)."""
    user_model = get_user_model()
    users = list(
        user_model._default_manager.filter(**{user_model.USERNAME_FIELD: term}).values_list("pk", flat=True)[:1]
    )
    return [Q(user_id__in=users)] if users else []


@admin.register(PeerSession)
class PeerSessionAdmin(LogAdmin):
    actions = ("kick_peers",)
    list_display = (
        "peer_id",
        "display_name",
        "room",
        "user",
        "joined_at",
        "left_at",
        "leave_reason",
        "media_path",
        "client_address",
    )
    list_filter = (("left_at", admin.EmptyFieldListFilter), "leave_reason", "media_path", "joined_at")
    search_fields = ("peer_id", "room__id", "room__name", "user__username", "client_address")
    search_help_text = "A peer id, a room's id (or its beginning) or part of its name, a user name, or an IP address."
    sortable_by = ("joined_at",)
    list_select_related = ("room", "user")
    date_hierarchy = "joined_at"

    def search_conditions(self, term: str) -> list[Q]:
        conditions = super().search_conditions(term) + user_named(term)
        try:
            address = str(ipaddress.ip_address(term))
        except ValueError:
            pass
        else:
            if PeerSession.objects.filter(client_address=address).exists():
                conditions.append(Q(client_address=address))
        return conditions

    @admin.action(description="Kick selected peers (those still in their room)", permissions=["kick"])
    def kick_peers(self, request: HttpRequest, queryset: QuerySet[PeerSession]) -> None:
        kicked = 0
        for room_id, peer_id in queryset.filter(left_at__isnull=True).values_list("room_id", "peer_id"):
            try:
                kicked += async_to_sync(live.kick)(room_id, peer_id)
            except live.LiveRoomsUnavailable:
                messages.error(request, "The signaling registry cannot be reached: nobody was kicked.")
                return
        messages.success(request, f"Kicked {kicked} peer(s).")

    def has_kick_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("rooms.change_room")


@admin.register(RoomEvent)
class RoomEventAdmin(LogAdmin):
    list_display = ("at", "kind", "room", "peer_id", "detail")
    list_filter = ("kind", "at")
    search_fields = ("room__id", "peer_id")
    search_help_text = "A peer id, or a room's id (or its beginning) or part of its name."
    sortable_by = ("at",)
    list_select_related = ("room",)
    date_hierarchy = "at"


#: The checks of a connection test, in the order the admin shows them, with their column headings.
CONNECTION_CHECK_LABELS = {
    "signaling": "signaling",
    "stun": "STUN",
    "turn-udp": "TURN\u00a0UDP",
    "turn-tcp": "TURN\u00a0TCP",
    "turn-tls": "TURN\u00a0TLS",
    "media": "media",
}
STATUS_MARKS = {"pass": "\u2714", "fail": "\u2718", "skip": "\u2013"}


@admin.register(ConnectionTest)
class ConnectionTestAdmin(LogAdmin):
    """Connection test reports that visitors sent: support staff find a visitor's by the reference it was shown,
    its user name, its session, or its address, and read which checks failed and why."""

    list_display = ("created_at", "ok", "outcome", "user", "client_address", "short_user_agent")
    list_filter = ("ok", "created_at")
    search_fields = ("id", "user__username", "session_key", "client_address")
    search_help_text = "A report's reference, a user name, a session key, or an IP address."
    sortable_by = ("created_at",)
    list_select_related = ("user",)
    date_hierarchy = "created_at"
    fields = (
        "id",
        "created_at",
        "ok",
        "checks_table",
        "user",
        "session_key",
        "client_address",
        "user_agent",
        "same_visitor",
    )
    readonly_fields = fields

    def search_conditions(self, term: str) -> list[Q]:
        conditions = []
        try:
            conditions.append(Q(pk=uuid.UUID(term)))
        except ValueError:
            pass
        conditions += user_named(term)
        try:
            conditions.append(Q(client_address=str(ipaddress.ip_address(term))))
        except ValueError:
            conditions.append(Q(session_key=term))
        # As the other logs: only the conditions that find something, so each is read through its own index.
        return [condition for condition in conditions if ConnectionTest.objects.filter(condition).exists()]

    @admin.display(description="checks")
    def outcome(self, report: ConnectionTest) -> str:
        # Each mark with its check's name on one line (no-break spaces), however narrow the column.
        return format_html_join(
            " ",
            '<span class="connection-check connection-check-{}" title="{}">{}\u00a0{}</span>',
            (
                (status, str(report.reported(check_id).get("message", "")), STATUS_MARKS[status], label)
                for check_id, label in CONNECTION_CHECK_LABELS.items()
                for status in [report.check_status(check_id)]
            ),
        )

    @admin.display(description="browser")
    def short_user_agent(self, report: ConnectionTest) -> str:
        return format_html('<span title="{}">{}</span>', report.user_agent, browser_of(report.user_agent))

    @admin.display(description="results")
    def checks_table(self, report: ConnectionTest) -> str:
        rows = format_html_join(
            "",
            '<tr><th>{}</th><td>{}\u00a0{}</td><td>{}<br><span class="help">{}</span></td></tr>',
            (
                (
                    CONNECTION_CHECK_LABELS.get(str(check.get("id")), str(check.get("id"))),
                    STATUS_MARKS.get(str(check.get("status")), "?"),
                    ConnectionTest.Status(check["status"]).label
                    if check.get("status") in ConnectionTest.Status
                    else "",
                    check.get("message", ""),
                    measured(check),
                )
                for check in report.checks
            ),
        )
        head = "<thead><tr><th>check</th><th>result</th><th>what it means</th></tr></thead>"
        return format_html("<table>{}<tbody>{}</tbody></table>", mark_safe(head), rows)

    @admin.display(description="same visitor")
    def same_visitor(self, report: ConnectionTest) -> str:
        """Links to this visitor's other reports: by user, else by session."""
        url = reverse("admin:rooms_connectiontest_changelist")
        if report.user_id is not None:
            username = getattr(report.user, get_user_model().USERNAME_FIELD)
            return format_html('<a href="{}?{}">Reports of {}</a>', url, urlencode({"q": username}), username)
        if report.session_key:
            return format_html('<a href="{}?{}">Reports of this session</a>', url, urlencode({"q": report.session_key}))
        return "-"


#: Browser names in a user agent, the most specific first (Edge's and Opera's also name Chrome and Safari).
BROWSER_NAMES = ("Edg", "OPR", "Firefox", "HeadlessChrome", "Chrome", "CriOS", "FxiOS")
BROWSER_TOKENS = re.compile(r"\b(Edg|OPR|Firefox|HeadlessChrome|Chrome|CriOS|FxiOS|Version)/(\d+)")


def browser_of(user_agent: str) -> str:
    """A user agent in a few words: the browser, its major version and the platform ("Chrome 156 (X11; Linux
    x86_64)"); the raw string when it names no browser we know."""
    tokens = dict(BROWSER_TOKENS.findall(user_agent))
    name = next((name for name in BROWSER_NAMES if name in tokens), None)
    if name is None and "Version" in tokens and "Safari/" in user_agent:
        name = "Safari"
        tokens["Safari"] = tokens["Version"]
    if name is None:
        return user_agent[:80]
    platform = re.search(r"\(([^)]*)\)", user_agent)
    label = {"Edg": "Edge", "OPR": "Opera", "CriOS": "Chrome", "FxiOS": "Firefox"}.get(name, name)
    return f"{label} {tokens[name]}" + (f" ({platform.group(1)})" if platform else "")


def measured(check: dict[str, Any]) -> str:
    """A check's figures in words: how long it took, the round trip, the address STUN found."""
    parts = []
    if "ms" in check:
        parts.append(f"{check['ms']:.0f} ms")
    if "rttMs" in check:
        parts.append(f"round trip {round(check['rttMs'], 1):g} ms")
    if "address" in check:
        parts.append(f"address {check['address']}")
    return ", ".join(parts)


@admin.register(Recording)
class RecordingAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Uploaded recordings: looked at, downloaded and deleted here; created only by uploads."""

    list_display = (
        "filename",
        "room",
        "owner",
        "status",
        "size_display",
        "duration",
        "mime_type",
        "created_at",
        "download_link",
    )
    list_filter = ("status", "created_at")
    search_fields = ("filename", "room__id", "owner__username", "sha256")
    list_select_related = ("room", "owner")
    date_hierarchy = "created_at"
    readonly_fields = (
        "id",
        "room",
        "owner",
        "filename",
        "mime_type",
        "stream_id",
        "duration",
        "size",
        "size_display",
        "sha256",
        "received",
        "status",
        "file",
        "created_at",
        "completed_at",
        "download_link",
    )
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def delete_model(self, request: HttpRequest, obj: Recording) -> None:
        delete_recording(obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Recording]) -> None:
        for recording in queryset:
            delete_recording(recording)

    @admin.display(description="size", ordering="size")
    def size_display(self, recording: Recording) -> str:
        return filesizeformat(recording.size)

    @admin.display(description="download")
    def download_link(self, recording: Recording) -> str:
        if recording.status != Recording.Status.COMPLETE:
            return "-"
        url = reverse("rooms-api:recording-download", args=[recording.pk])
        return format_html('<a href="{}">Download</a>', url)
