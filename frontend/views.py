"""The demo pages: a lobby listing rooms, a video call page and a data chat page, all on the browser client."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse

from frontend.conf import conf
from signaling import live
from signaling.protocol import is_valid_room_id

#: Stored rooms the lobby lists, newest first (live rooms are always listed).
LOBBY_ROOMS = 50
PAGES = {"video": "frontend:call", "chat": "frontend:chat"}


@dataclass(frozen=True)
class LobbyRoom:
    id: str
    name: str
    live_peers: int
    #: The capacity joins meet (the room's own, or the endpoint's default).
    max_peers: int
    is_open: bool

    @property
    def is_full(self) -> bool:
        return self.live_peers >= self.max_peers


def lobby_rooms(user: Any) -> tuple[list[LobbyRoom], bool]:
    """Live rooms first (busiest first), then the most recent stored ones; and whether live counts are known.

    Only rooms the ``rooms`` app lists to ``user`` appear (never token-only rooms to strangers, nor ad-hoc rooms
    named by whoever joined first: the lobby is no billboard); live rooms with no stored row are listed to staff
    only.
    """
    try:
        counts = live.live_rooms()
        live_known = True
    except live.LiveRoomsUnavailable:
        counts, live_known = {}, False
    rooms: dict[str, LobbyRoom] = {}
    default_capacity = live.default_capacity()[0]
    lists_every_room = bool(getattr(user, "is_staff", False))
    if apps.is_installed("rooms"):
        from rooms.permissions import has_staff_permission, rooms_listed_to

        lists_every_room = has_staff_permission(user, "rooms.view_room")
        listed = rooms_listed_to(user)
        stored = list(listed.filter(pk__in=list(counts)))
        stored += list(listed.exclude(pk__in=list(counts))[:LOBBY_ROOMS])
        for room in stored:
            rooms[room.pk] = LobbyRoom(
                room.pk, room.name, counts.get(room.pk, 0), room.max_peers or default_capacity, room.is_open
            )
    if lists_every_room:
        for room_id, count in counts.items():
            rooms.setdefault(room_id, LobbyRoom(room_id, "", count, default_capacity, True))
    ordered = sorted(rooms.values(), key=lambda room: -room.live_peers)
    return ordered, live_known


def index(request: HttpRequest) -> HttpResponse:
    """The lobby: rooms with their live peers, and a form to enter any room as a video call or a data chat."""
    error = None
    status = 200
    if "room" in request.GET:
        room_id = request.GET["room"].strip()
        page = PAGES.get(request.GET.get("kind", "video"))
        if page and is_valid_room_id(room_id):
            return HttpResponseRedirect(reverse(page, args=[room_id]))
        error = "A room name is 1 to 128 letters, digits, or any of - _ . :"
        status = 400
    rooms, live_known = lobby_rooms(request.user)
    context = {"rooms": rooms, "live_known": live_known, "error": error, "room": request.GET.get("room", "")}
    return render(request, "frontend/lobby.html", context, status=status)


def lobby_rooms_json(request: HttpRequest) -> JsonResponse:
    """The lobby's rooms with their live occupancy, for the lobby page to refresh without a reload."""
    rooms, live_known = lobby_rooms(request.user)
    return JsonResponse(
        {
            "live_known": live_known,
            "rooms": [
                {
                    "id": room.id,
                    "live_peers": room.live_peers,
                    "max_peers": room.max_peers,
                    "is_open": room.is_open,
                    "is_full": room.is_full,
                }
                for room in rooms
            ],
        }
    )


def _room_page(request: HttpRequest, template: str, room_id: str) -> HttpResponse:
    if not is_valid_room_id(room_id):
        raise Http404("No such room")
    return render(request, template, {"room_id": room_id, "signal_path": conf.SIGNAL_PATH})


def call(request: HttpRequest, room_id: str) -> HttpResponse:
    """A video call: local and remote video, mute, screen share, recording, live connection quality."""
    return _room_page(request, "frontend/call.html", room_id)


def chat(request: HttpRequest, room_id: str) -> HttpResponse:
    """A data-only chat over WebRTC data channels: no camera, no microphone."""
    return _room_page(request, "frontend/chat.html", room_id)


def connection_test(request: HttpRequest) -> HttpResponse:
    """ "Test my connection": the browser client's connection test against this site's servers, its results in
    words a user can act on, and a button that sends them to the site's support staff (listed in the admin).

    A visitor who is not logged in gets a session here, so that the reports one visitor sends are found together."""
    if hasattr(request, "session") and request.session.session_key is None:
        request.session.save()
    return render(request, "frontend/connection_test.html", {"signal_path": conf.SIGNAL_PATH})
