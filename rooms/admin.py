from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from rooms.models import PeerSession, Room, RoomEvent
from signaling.registry import RegistryUnavailable, get_registry

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
            live = list(get_registry().live_rooms())
        except RegistryUnavailable:
            messages.warning(request, UNAVAILABLE)
            return queryset.none()
        return queryset.filter(pk__in=live) if self.value() == "yes" else queryset.exclude(pk__in=live)


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
    fields = ("peer_id", "user", "joined_at", "left_at", "leave_reason", "client_address")
    readonly_fields = fields
    order_by = ("-joined_at", "-pk")
    verbose_name_plural = "recent peer sessions"


class RoomEventInline(ReadOnlyInline):
    model = RoomEvent
    fields = ("at", "kind", "peer_id", "detail")
    readonly_fields = fields
    order_by = ("-at", "-pk")
    verbose_name_plural = "recent events"


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("id", "name", "live_peers", "max_peers", "is_open", "created_at", "updated_at")
    list_filter = (LiveFilter, "is_open", "created_at")
    search_fields = ("id", "name")
    readonly_fields = ("live_peers", "history_links", "created_at", "updated_at")
    fields = ("id", "name", "max_peers", "is_open", "live_peers", "history_links", "created_at", "updated_at")
    inlines = (PeerSessionInline, RoomEventInline)

    def get_readonly_fields(self, request: HttpRequest, obj: Room | None = None) -> Any:
        # The id is what peers join by; changing it would orphan the room's log.
        return ("id", *self.readonly_fields) if obj is not None else self.readonly_fields

    def get_changelist_instance(self, request: HttpRequest) -> Any:
        changelist = super().get_changelist_instance(request)
        # One registry query for the whole page rather than one per row.
        rooms = list(changelist.result_list)
        try:
            counts: dict[str, int | None] = dict(get_registry().occupancy(room.pk for room in rooms))
        except RegistryUnavailable:
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
                count = get_registry().occupancy([room.pk]).get(room.pk, 0)
            except RegistryUnavailable:
                count = None
        return "unavailable" if count is None else str(count)

    @admin.display(description="history")
    def history_links(self, room: Room) -> str:
        if not room.pk:
            return "-"
        sessions = reverse("admin:rooms_peersession_changelist") + f"?room__id__exact={room.pk}"
        events = reverse("admin:rooms_roomevent_changelist") + f"?room__id__exact={room.pk}"
        return format_html('<a href="{}">All sessions</a> · <a href="{}">All events</a>', sessions, events)


class LogAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Rows written by the recorder: viewable, never added, changed or deleted by hand."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(PeerSession)
class PeerSessionAdmin(LogAdmin):
    list_display = ("peer_id", "room", "user", "joined_at", "left_at", "leave_reason", "client_address")
    list_filter = (("left_at", admin.EmptyFieldListFilter), "leave_reason", "joined_at")
    search_fields = ("peer_id", "room__id", "room__name", "user__username", "client_address")
    list_select_related = ("room", "user")
    date_hierarchy = "joined_at"


@admin.register(RoomEvent)
class RoomEventAdmin(LogAdmin):
    list_display = ("at", "kind", "room", "peer_id", "detail")
    list_filter = ("kind", "at")
    search_fields = ("room__id", "peer_id")
    list_select_related = ("room",)
    date_hierarchy = "at"
