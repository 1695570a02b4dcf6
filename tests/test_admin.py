"""The admin: rooms with live peer counts, search and filters; sessions and events inline; logs read-only."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from rooms.models import PeerSession, Room, RoomBan, RoomEvent
from tests.conftest import FakePeer, seated

pytestmark = pytest.mark.django_db

#: The management forms of the room page's inlines (bans, sessions, events), with no rows.
NO_INLINE_ROWS = {
    f"{prefix}-{field}": "0" for prefix in ("bans", "sessions", "events") for field in ("TOTAL_FORMS", "INITIAL_FORMS")
}


@pytest.fixture
def live_room() -> Iterator[Room]:
    """A stored room with three peers in the signaling registry right now."""
    room = Room.objects.create(id="admin-live", name="Design review", max_peers=4)
    with seated([(room.id, f"live-{index}") for index in range(3)]):
        yield room


def test_room_list_shows_live_peer_counts(admin_client: Client, live_room: Room) -> None:
    Room.objects.create(id="admin-empty", name="Quiet room")
    response = admin_client.get(reverse("admin:rooms_room_changelist"))
    assert response.status_code == 200
    rows = {room.pk: room.live_peer_count for room in response.context["cl"].result_list}
    assert rows == {"admin-live": 3, "admin-empty": 0}
    assert b'<td class="field-live_peers">3</td>' in response.content


def test_room_list_search_and_filters(admin_client: Client, live_room: Room) -> None:
    Room.objects.create(id="admin-closed", name="Archive", is_open=False)
    url = reverse("admin:rooms_room_changelist")

    def ids(query: str) -> set[str]:
        response = admin_client.get(url + query)
        assert response.status_code == 200
        return {room.pk for room in response.context["cl"].result_list}

    assert ids("?q=design") == {"admin-live"}
    assert ids("?is_open__exact=0") == {"admin-closed"}
    assert ids("?live=yes") == {"admin-live"}
    assert ids("?live=no") == {"admin-closed"}


def test_room_page_shows_recent_sessions_and_events_inline(admin_client: Client, live_room: Room) -> None:
    now = timezone.now()
    for index in range(25):
        PeerSession.objects.create(peer_id=f"s{index:02}", room=live_room, joined_at=now + timedelta(seconds=index))
        RoomEvent.objects.create(
            room=live_room, kind="peer_joined", peer_id=f"s{index:02}", at=now + timedelta(seconds=index)
        )
    other = Room.objects.create(id="admin-other")
    PeerSession.objects.create(peer_id="elsewhere", room=other, joined_at=now)

    response = admin_client.get(reverse("admin:rooms_room_change", args=[live_room.pk]))
    assert response.status_code == 200
    content = response.content.decode()
    assert "Design review" in content
    assert "s24" in content
    assert "s05" in content
    assert "s04" not in content
    assert "elsewhere" not in content
    assert "All sessions" in content
    assert "?room__id__exact=admin-live" in content
    # Live count on the change form too.
    assert '<div class="readonly">3</div>' in content


def test_room_ids_with_special_characters_open_in_admin(admin_client: Client, live_room: Room) -> None:
    from django.contrib.admin.utils import quote

    room = Room.objects.create(id="team:alpha_1.x-y")
    PeerSession.objects.create(peer_id="special", room=room, joined_at=timezone.now())
    change_url = reverse("admin:rooms_room_change", args=[quote(room.pk)])
    assert change_url in admin_client.get(reverse("admin:rooms_room_changelist")).content.decode()
    response = admin_client.get(change_url)
    assert response.status_code == 200
    assert "special" in response.content.decode()  # the inline found the room behind the quoted id


def test_room_created_in_admin_is_validated(admin_client: Client) -> None:
    url = reverse("admin:rooms_room_add")
    response = admin_client.post(
        url,
        {
            "id": "bad room/id",
            "name": "",
            "max_peers": "0",
            "is_open": "on",
            "access": "anonymous",
            "topology": "mesh",
            **NO_INLINE_ROWS,
        },
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "id" in errors
    assert "max_peers" in errors
    assert not Room.objects.exists()
    response = admin_client.post(
        url,
        {
            "id": "good-room",
            "name": "Good",
            "max_peers": "6",
            "is_open": "on",
            "access": "anonymous",
            "topology": "mesh",
            **NO_INLINE_ROWS,
        },
    )
    assert response.status_code == 302
    assert Room.objects.get(id="good-room").max_peers == 6


def test_events_and_sessions_are_read_only(admin_client: Client, live_room: Room) -> None:
    event = RoomEvent.objects.create(room=live_room, kind="room_created", at=timezone.now())
    session = PeerSession.objects.create(peer_id="ro", room=live_room, joined_at=timezone.now())
    assert admin_client.get(reverse("admin:rooms_roomevent_add")).status_code == 403
    assert admin_client.get(reverse("admin:rooms_peersession_add")).status_code == 403
    delete_url = reverse("admin:rooms_roomevent_delete", args=[event.pk])
    assert admin_client.post(delete_url, {"post": "yes"}).status_code == 403
    assert (
        admin_client.post(reverse("admin:rooms_roomevent_change", args=[event.pk]), {"kind": "peer_left"}).status_code
        == 403
    )
    assert RoomEvent.objects.get(pk=event.pk).kind == "room_created"
    assert admin_client.get(reverse("admin:rooms_peersession_change", args=[session.pk])).status_code == 200


def test_event_list_filters_by_kind_and_time(admin_client: Client, live_room: Room) -> None:
    old = timezone.now() - timedelta(days=40)
    RoomEvent.objects.create(room=live_room, kind="room_created", at=old)
    RoomEvent.objects.create(
        room=live_room, kind="peer_left", peer_id="p1", at=timezone.now(), detail={"reason": "leave"}
    )
    url = reverse("admin:rooms_roomevent_changelist")
    response = admin_client.get(url + "?kind__exact=peer_left")
    assert [e.kind for e in response.context["cl"].result_list] == ["peer_left"]
    today = timezone.now()
    response = admin_client.get(url + f"?at__year={today.year}&at__month={today.month}&at__day={today.day}")
    assert [e.kind for e in response.context["cl"].result_list] == ["peer_left"]
    response = admin_client.get(reverse("admin:rooms_peersession_changelist") + "?left_at__isempty=1")
    assert response.status_code == 200


def test_room_pages_survive_an_unreachable_registry(admin_client: Client, settings: Any, live_room: Room) -> None:
    from rtcsite.servers import free_port

    # A Redis registry pointed at a port where nothing listens.
    settings.SIGNALING = {**settings.SIGNALING, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    response = admin_client.get(reverse("admin:rooms_room_changelist"), follow=True)
    assert response.status_code == 200
    assert "registry cannot be reached" in response.content.decode()
    assert '<td class="field-live_peers">unavailable</td>' in response.content.decode()
    assert admin_client.get(reverse("admin:rooms_room_changelist") + "?live=yes").status_code == 200
    assert (
        '<div class="readonly">unavailable</div>'
        in admin_client.get(reverse("admin:rooms_room_change", args=[live_room.pk])).content.decode()
    )


def test_close_and_reopen_actions_act_on_live_calls(admin_client: Client) -> None:
    room = Room.objects.create(id="admin-close", max_peers=4)
    with seated([(room.id, f"closing-{index}") for index in range(2)]) as handles:
        url = reverse("admin:rooms_room_changelist")
        response = admin_client.post(url, {"action": "close_rooms", "_selected_action": [room.pk]}, follow=True)
        assert "Closed 1 room(s); 2 peer(s) were in them." in response.content.decode()
        assert [handle.evicted for handle in handles] == [["room-closed"], ["room-closed"]]
        room.refresh_from_db()
        assert not room.is_open
        admin_client.post(url, {"action": "reopen_rooms", "_selected_action": [room.pk]})
        room.refresh_from_db()
        assert room.is_open


def test_kick_action_reaches_live_peers_only(admin_client: Client) -> None:
    room = Room.objects.create(id="admin-kick")
    gone = FakePeer("kick-gone")
    now = timezone.now()
    with seated([(room.id, "kick-live")]) as (live,):
        sessions = [
            PeerSession.objects.create(peer_id=live.peer_id, room=room, joined_at=now),
            PeerSession.objects.create(
                peer_id=gone.peer_id, room=room, joined_at=now, left_at=now, leave_reason="leave"
            ),
        ]
        response = admin_client.post(
            reverse("admin:rooms_peersession_changelist"),
            {"action": "kick_peers", "_selected_action": [session.pk for session in sessions]},
            follow=True,
        )
        assert "Kicked 1 peer(s)." in response.content.decode()
        assert live.evicted == ["kicked"]
        assert gone.evicted == []


def test_unchecking_open_in_the_form_closes_live_calls(admin_client: Client) -> None:
    room = Room.objects.create(id="admin-form", max_peers=3)
    with seated([(room.id, "form-peer")], max_peers=3) as (handle,):
        response = admin_client.post(
            reverse("admin:rooms_room_change", args=[room.pk]),
            {"name": "", "max_peers": "3", "access": "anonymous", "topology": "mesh", **NO_INLINE_ROWS},
            follow=True,
        )
        assert response.status_code == 200
        assert "1 live peer(s) were disconnected" in response.content.decode()
        assert handle.evicted == ["room-closed"]


@pytest.mark.parametrize("url", ["room", "sessions", "events"])
def test_log_pages_cost_the_same_queries_whatever_their_rows(admin_client: Client, url: str) -> None:
    """No query per row (the sessions' users and rooms come with the page's own query)."""
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    room = Room.objects.create(id="admin-n-plus-one")
    path = {
        "room": reverse("admin:rooms_room_change", args=[room.pk]),
        "sessions": reverse("admin:rooms_peersession_changelist"),
        "events": reverse("admin:rooms_roomevent_changelist"),
    }[url]

    def queries_with(sessions: int) -> int:
        now = timezone.now()
        for index in range(sessions):
            user = User.objects.create_user(f"n{sessions}-{index}")
            PeerSession.objects.create(
                peer_id=f"n{sessions}-{index}", room=room, user=user, joined_at=now + timedelta(seconds=index)
            )
            RoomEvent.objects.create(room=room, kind="peer_joined", peer_id=f"n{sessions}-{index}", at=now)
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get(path).status_code == 200
        return len(captured.captured_queries)

    admin_client.get(path)  # caches filled once per process (content types, permissions) are not the page's
    assert queries_with(2) == queries_with(15)


def test_log_lists_say_when_they_counted_no_further(admin_client: Client, settings: Any) -> None:
    settings.ROOMS = {"ADMIN_LOG_ROWS": 5}
    room = Room.objects.create(id="admin-capped")
    now = timezone.now()
    for index in range(12):
        RoomEvent.objects.create(
            room=room, kind="peer_joined", peer_id=f"c{index:02}", at=now + timedelta(seconds=index)
        )
    changelist = reverse("admin:rooms_roomevent_changelist")
    content = admin_client.get(changelist, {"room__id__exact": room.pk}).content.decode()
    assert "The newest 5 room events (more exist" in content
    assert "more than 5 results" in content
    # A page past the counted rows (a bookmark) shows the last page offered rather than an error.
    deep = admin_client.get(changelist, {"room__id__exact": room.pk, "p": 50})
    assert deep.status_code == 200
    assert "c07" in deep.content.decode()
    # Fewer rows than the bound: the exact count.
    few = admin_client.get(changelist, {"room__id__exact": room.pk, "q": "c03"}).content.decode()
    assert "1 room event" in few
    assert "more exist" not in few


def test_room_page_shows_the_capacity_and_the_live_peers_with_kick_and_ban(admin_client: Client) -> None:
    room = Room.objects.create(id="admin-capacity")
    eve = User.objects.create_user("eve")
    eve_peer, anonymous_peer = "peer-eveEVEeveEVE0001", "peer-anonANONanon0002"
    PeerSession.objects.create(peer_id=eve_peer, room=room, user=eve, joined_at=timezone.now(), display_name="Eve")
    PeerSession.objects.create(peer_id=anonymous_peer, room=room, joined_at=timezone.now(), display_name="Anon")
    change = reverse("admin:rooms_room_change", args=[room.pk])
    with seated([(room.pk, eve_peer), (room.pk, anonymous_peer)]) as (eve_socket, anonymous_socket):
        page = admin_client.get(change).content.decode()
        # Not "Max peers -": what joins meet, and where it comes from.
        assert "2 (default: SIGNALING[&#x27;MAX_PEERS&#x27;])" in page
        assert "Eve" in page
        assert "Anon" in page
        assert eve_peer in page
        # Anonymous peers can be kicked, not banned: one ban button, for Eve.
        assert page.count('name="_kick"') == 2
        assert page.count('name="_ban"') == 1
        kick = reverse("admin:rooms_room_kick", args=[room.pk])
        # A ban duration the page does not offer is refused; nothing is stored, nobody kicked.
        admin_client.post(kick, {"_ban": eve_peer, "ban_minutes": "7"})
        assert not RoomBan.objects.exists()
        assert eve_socket.evicted == []
        assert admin_client.post(kick, {"_ban": eve_peer, "ban_minutes": "60"}).status_code == 302
        assert eve_socket.evicted == ["kicked"]
        ban = RoomBan.objects.get()
        assert ban.user == eve
        assert 59 * 60 < (ban.until - timezone.now()).total_seconds() <= 3600
        admin_client.post(kick, {"_kick": anonymous_peer})
        assert anonymous_socket.evicted == ["kicked"]
        assert admin_client.get(kick).status_code == 403
    room.max_peers = 5
    room.save()
    assert "5 (this room&#x27;s max peers)" in admin_client.get(change).content.decode()


def test_session_list_shows_and_filters_the_media_path(admin_client: Client) -> None:
    room = Room.objects.create(id="admin-paths")
    now = timezone.now()
    for peer_id, path in (("relayed", "relay"), ("direct", "direct"), ("silent", "")):
        PeerSession.objects.create(peer_id=f"peer-{peer_id}", room=room, joined_at=now, media_path=path)
    url = reverse("admin:rooms_peersession_changelist")
    page = admin_client.get(url).content.decode()
    rows = {match.group(1): row for row in page.split("<tr")[1:] if (match := re.search(r"peer-(\w+)", row))}
    assert "through a TURN relay" in rows["relayed"]
    assert '<td class="field-media_path">direct</td>' in rows["direct"]
    assert "not reported" in rows["silent"]
    relayed = admin_client.get(url + "?media_path__exact=relay").content.decode()
    assert "peer-relayed" in relayed
    assert "peer-direct" not in relayed
    assert "peer-silent" not in relayed
