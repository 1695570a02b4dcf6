"""The REST API of rooms: listings with live occupancy, staff management and moderation of live calls, room
tokens, and each room's lifecycle events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from asgiref.sync import async_to_sync
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, NotAuthenticated, NotFound, PermissionDenied, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from rooms import server_recording
from rooms.bans import CannotBan, ban_peer
from rooms.models import Room, RoomEvent
from rooms.pagination import EventCursorPagination, StandardPagination
from rooms.permissions import (
    ReadOnlyOrStaffModelPermissions,
    has_staff_permission,
    rooms_listed_to,
    rooms_visible_to,
    staff_with,
)
from rooms.serializers import (
    CloseResultSerializer,
    KickResultSerializer,
    KickSerializer,
    RecordResultSerializer,
    RoomDetailSerializer,
    RoomEventPageSerializer,
    RoomEventSerializer,
    RoomSerializer,
    RoomTokenRequestSerializer,
    RoomTokenSerializer,
)
from signaling import live
from signaling.policy import Access, Topology
from signaling.protocol import ROOM_ID_PATTERN, PeerRole
from signaling.tokens import issue_room_token


class RecordingUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "This server cannot record calls: it needs the peer extra (pip install '.[peer]')."
    default_code = "recording_unavailable"


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "Conflict."
    default_code = "conflict"


class RegistryUnreachable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The signaling registry cannot be reached; live room data is unavailable."
    default_code = "registry_unavailable"


def query_flag(request: Request, name: str) -> bool | None:
    """A true/false query parameter; None when absent."""
    value = request.query_params.get(name, "").strip().lower()
    if not value:
        return None
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise ValidationError({name: "Use true or false."})


#: Digits a whole number in a query parameter or header may have: more is no count or offset this API knows, and
#: Python refuses to convert numbers above 4,300 digits.
MAX_DIGITS = 18


def whole_number(text: str) -> int | None:
    """A non-negative whole number written in ASCII digits, or None for anything else."""
    if not text or len(text) > MAX_DIGITS or not (text.isascii() and text.isdigit()):
        return None
    return int(text)


def query_datetime(request: Request, name: str) -> datetime | None:
    value = request.query_params.get(name, "").strip()
    if not value:
        return None
    try:
        parsed = parse_datetime(value)
    except ValueError:
        parsed = None
    if parsed is None:
        raise ValidationError({name: "Use an ISO 8601 date and time, e.g. 2026-11-25T14:00:00Z."})
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, UTC)


def live_counts(room_ids: list[str]) -> dict[str, int] | None:
    """Live peers of each room; None when the registry cannot be reached (the listing still answers)."""
    try:
        return live.occupancy(room_ids)
    except live.LiveRoomsUnavailable:
        return None


def run_moderation(function: Any, *args: Any) -> Any:
    try:
        return async_to_sync(function)(*args)
    except live.LiveRoomsUnavailable as error:
        raise RegistryUnreachable() from error


ROOM_FILTERS = [
    OpenApiParameter("is_open", OpenApiTypes.BOOL, description="Only open (true) or closed (false) rooms."),
    OpenApiParameter("occupied", OpenApiTypes.BOOL, description="Only rooms with (true) or without (false) peers now."),
    OpenApiParameter("min_peers", OpenApiTypes.INT, description="Only rooms with at least this many peers now."),
    OpenApiParameter("search", OpenApiTypes.STR, description="Part of the room's id or name."),
]
EVENT_FILTERS = [
    OpenApiParameter("kind", OpenApiTypes.STR, enum=[kind.value for kind in RoomEvent.Kind]),
    OpenApiParameter("since", OpenApiTypes.DATETIME, description="Events at or after this time."),
    OpenApiParameter("until", OpenApiTypes.DATETIME, description="Events before this time."),
]
EVENT_PAGES = [
    OpenApiParameter("cursor", OpenApiTypes.STR, description="Where the page begins: from `next` or `previous`."),
    OpenApiParameter(
        "page_size",
        OpenApiTypes.INT,
        description=f"Events a page (default {EventCursorPagination.page_size}, "
        f"at most {EventCursorPagination.max_page_size}).",
    ),
]


@extend_schema_view(list=extend_schema(parameters=ROOM_FILTERS))
class RoomViewSet(viewsets.ModelViewSet[Room]):
    """Rooms. Anyone lists and reads the rooms they may see (token-only rooms: staff and the room's allowed
    users); staff create, change, close, reopen and delete rooms and kick peers."""

    serializer_class = RoomSerializer
    permission_classes = [ReadOnlyOrStaffModelPermissions]
    pagination_class = StandardPagination
    lookup_value_regex = ROOM_ID_PATTERN.pattern
    queryset = Room.objects.all()

    def get_serializer_class(self) -> type[BaseSerializer[Any]]:
        return RoomDetailSerializer if self.action == "retrieve" else RoomSerializer

    def get_queryset(self) -> QuerySet[Room]:
        if self.action == "list":
            return self.filter_rooms(rooms_listed_to(self.request.user).order_by("-created_at", "id"))
        return rooms_visible_to(self.request.user).order_by("-created_at", "id")

    def filter_rooms(self, rooms: QuerySet[Room]) -> QuerySet[Room]:
        request = self.request
        is_open = query_flag(request, "is_open")
        if is_open is not None:
            rooms = rooms.filter(is_open=is_open)
        search = request.query_params.get("search", "").strip()
        if search:
            rooms = rooms.filter(Q(id__icontains=search) | Q(name__icontains=search))
        occupied = query_flag(request, "occupied")
        min_peers_text = request.query_params.get("min_peers", "").strip()
        min_peers = whole_number(min_peers_text) if min_peers_text else 0
        if min_peers is None:
            raise ValidationError({"min_peers": "Use a whole number of peers."})
        if occupied is not None or min_peers:
            try:
                counts = live.live_rooms()
            except live.LiveRoomsUnavailable as error:
                raise RegistryUnreachable() from error
            if occupied is True:
                rooms = rooms.filter(pk__in=list(counts))
            elif occupied is False:
                rooms = rooms.exclude(pk__in=list(counts))
            if min_peers:
                rooms = rooms.filter(pk__in=[room_id for room_id, count in counts.items() if count >= min_peers])
        return rooms

    def get_serializer_context(self) -> dict[str, Any]:
        context = dict(super().get_serializer_context())
        room_id = self.kwargs.get(self.lookup_field)
        if room_id is not None:
            context["live_counts"] = live_counts([room_id])
        # The serializer keeps this very dict: perform_create adds the new room's live count to it.
        self.serializer_context = context
        return context

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        rooms = list(page if page is not None else queryset)
        context = {**self.get_serializer_context(), "live_counts": live_counts([room.pk for room in rooms])}
        data = RoomSerializer(rooms, many=True, context=context).data
        return self.get_paginated_response(data) if page is not None else Response(data)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        room = self.get_object()
        context = self.get_serializer_context()
        if has_staff_permission(request.user, "rooms.view_peersession"):
            try:
                context["peers"] = sorted(live.room_members(room.pk))
            except live.LiveRoomsUnavailable:
                context["peers"] = None
        return Response(RoomDetailSerializer(room, context=context).data)

    def perform_create(self, serializer: BaseSerializer[Room]) -> None:
        room = serializer.save()
        # A stored room may already be live (peers joined it ad hoc before it was stored).
        self.serializer_context["live_counts"] = live_counts([room.pk])

    def perform_update(self, serializer: BaseSerializer[Room]) -> None:
        assert serializer.instance is not None
        was_open = serializer.instance.is_open
        # A room someone set up through the API is a stored room from now on.
        room = serializer.save(ad_hoc=False)
        if was_open and not room.is_open:
            run_moderation(live.close_room, room.pk)

    def perform_destroy(self, instance: Room) -> None:
        run_moderation(live.close_room, instance.pk)
        instance.delete()

    @extend_schema(request=None, responses=CloseResultSerializer)
    @action(detail=True, methods=["post"], permission_classes=[staff_with("rooms.change_room")])
    def close(self, request: Request, pk: str | None = None) -> Response:
        """Close the room: it refuses joins until reopened, and every peer in it gets `closed` (room-closed)."""
        room = self.get_object()
        room.is_open = False
        room.save(update_fields=["is_open", "updated_at"])
        closed = run_moderation(live.close_room, room.pk)
        return Response({"closed_peers": closed})

    @extend_schema(request=None, responses=RoomSerializer)
    @action(detail=True, methods=["post"], permission_classes=[staff_with("rooms.change_room")])
    def reopen(self, request: Request, pk: str | None = None) -> Response:
        """Let the room admit joins again."""
        room = self.get_object()
        room.is_open = True
        room.save(update_fields=["is_open", "updated_at"])
        return Response(RoomSerializer(room, context=self.get_serializer_context()).data)

    @extend_schema(request=KickSerializer, responses={200: KickResultSerializer, 404: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["post"], permission_classes=[staff_with("rooms.change_room")])
    def kick(self, request: Request, pk: str | None = None) -> Response:
        """End one peer's stay: its socket gets `closed` (kicked), the room `peer-left` with reason kicked. With
        `ban_minutes`, the peer's user may not join the room again until the ban ends (`forbidden`)."""
        room = self.get_object()
        body = KickSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        peer_id = body.validated_data["peer_id"]
        minutes = body.validated_data.get("ban_minutes")
        if minutes is None:
            if not run_moderation(live.kick, room.pk, peer_id):
                raise NotFound("No such peer in this room.")
            return Response({"kicked": True})
        try:
            ban = ban_peer(room, peer_id, minutes, by=request.user, reason=body.validated_data["reason"])
        except CannotBan as error:
            raise ValidationError({"ban_minutes": str(error)}) from None
        except live.LiveRoomsUnavailable as error:
            raise RegistryUnreachable() from error
        return Response({"kicked": True, "banned_until": ban.until})

    @extend_schema(request=RoomTokenRequestSerializer, responses={201: RoomTokenSerializer})
    @action(detail=True, methods=["post"], permission_classes=[AllowAny])
    def token(self, request: Request, pk: str | None = None) -> Response:
        """A short-lived signed token that lets its holder join this room (and no other). With a `role`
        (`recorder`, `agent`; staff only), its holder joins in one of the room's extra seats, announced with that
        role to every member. With the role `viewer` (anyone who may have a token; SFU rooms only), its holder
        takes a participant's seat but cannot publish: it only watches and listens."""
        room = self.get_object()  # token-only rooms are found only by staff and their allowed users
        body = RoomTokenRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        role = body.validated_data.get("role")
        if role == PeerRole.VIEWER:
            if room.topology != Topology.SFU:
                raise ValidationError({"role": "A viewer's token is for SFU rooms only."})
        elif role and not has_staff_permission(request.user, "rooms.change_room"):
            raise PermissionDenied("Only staff may have a token with a role.")
        if not room.is_open:
            raise PermissionDenied("This room is closed.")
        user = request.user
        if room.access != Access.ANONYMOUS and not user.is_authenticated:
            raise NotAuthenticated("Log in to obtain a token for this room.")
        token, expires = issue_room_token(
            room.pk, user.pk if user.is_authenticated else None, PeerRole(role) if role else None
        )
        answer = {
            "token": token,
            "room_id": room.pk,
            "expires_at": datetime.fromtimestamp(expires, UTC),
            "role": role or None,
        }
        return Response(RoomTokenSerializer(answer).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=None, responses={202: RecordResultSerializer, 200: RecordResultSerializer, 409: OpenApiTypes.OBJECT}
    )
    @action(detail=True, methods=["post", "delete"], permission_classes=[staff_with("rooms.change_room")])
    def record(self, request: Request, pk: str | None = None) -> Response:
        """POST: record the call on the server (a recorder peer joins in an extra seat; a recording per peer,
        saved when each peer leaves or the recording stops; it stops by itself when the room empties).
        DELETE: stop the room's recordings. Needs the `peer` extra on the server."""
        room = self.get_object()
        if request.method == "DELETE":
            return Response({"recorders": run_moderation(server_recording.stop_recording, room.pk)})
        if not room.is_open:
            raise PermissionDenied("This room is closed.")
        if not server_recording.can_record():
            raise RecordingUnavailable()
        try:
            started = server_recording.start_recording(room.pk)
        except live.LiveRoomsUnavailable as error:
            raise RegistryUnreachable() from error
        if not started:
            raise Conflict("This room is being recorded already.")
        return Response({"recorders": 1}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(parameters=[*EVENT_FILTERS, *EVENT_PAGES], responses=RoomEventPageSerializer)
    @action(detail=True, methods=["get"], permission_classes=[staff_with("rooms.view_roomevent")])
    def events(self, request: Request, pk: str | None = None) -> Response:
        """The room's lifecycle events, newest first, a page at a time: follow `next` (a cursor) for older ones."""
        room = self.get_object()
        events = RoomEvent.objects.filter(room=room).order_by("-at", "-id")
        kind = request.query_params.get("kind", "").strip()
        if kind:
            if kind not in RoomEvent.Kind.values:
                raise ValidationError({"kind": f"One of: {', '.join(RoomEvent.Kind.values)}."})
            events = events.filter(kind=kind)
        since, until = query_datetime(request, "since"), query_datetime(request, "until")
        if since is not None:
            events = events.filter(at__gte=since)
        if until is not None:
            events = events.filter(at__lt=until)
        paginator = EventCursorPagination()
        page = paginator.paginate_queryset(events, request, view=self)
        return paginator.get_paginated_response(RoomEventSerializer(page, many=True).data)
