"""Peers with a role (recorder, agent): minted by staff only, seated beyond the room's capacity in a bounded number
of extra seats, never in a participant's, and announced to every member; with each registry."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from rest_framework.test import APIClient

from rooms.models import Room
from signaling.protocol import PeerRole, role_of
from signaling.tokens import issue_room_token, read_room_token
from tests.conftest import Connect

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("registry_kind")]


async def test_a_recorder_takes_an_extra_seat_and_every_member_learns_its_role(
    connect: Connect, room_id: str, settings: Any
) -> None:
    settings.SIGNALING = {**settings.SIGNALING, "EXTRA_SEATS": 1}
    await Room.objects.acreate(id=room_id, max_peers=2)
    alice, bob = await connect(), await connect()
    a = (await alice.join(room_id))["peerId"]
    joined_b = await bob.join(room_id)
    assert joined_b["roles"] == {}
    assert await alice.receive() == {"t": "peer-joined", "peerId": joined_b["peerId"]}

    # The room is full for participants; a recorder still gets in, and says what it is.
    recorder = await connect()
    token, _ = issue_room_token(room_id, None, PeerRole.RECORDER)
    await recorder.send(t="join", roomId=room_id, token=token)
    joined_r = await recorder.receive()
    assert joined_r["t"] == "joined"
    assert joined_r["role"] == "recorder"
    r = joined_r["peerId"]
    assert role_of(r) == "recorder"
    assert r.startswith("peer.recorder.")
    assert sorted(joined_r["peers"]) == sorted([a, joined_b["peerId"]])
    assert joined_r["roles"] == {}
    for member in (alice, bob):
        assert await member.receive() == {"t": "peer-joined", "peerId": r, "role": "recorder"}

    # A participant still finds the room full (the recorder took no participant's seat, and gives none) ...
    carol = await connect()
    await carol.send(t="join", roomId=room_id)
    await carol.expect_error("room-full")
    # ... and the extra seats are bounded: a second peer with a role finds none left.
    agent = await connect()
    agent_token, _ = issue_room_token(room_id, None, PeerRole.AGENT)
    await agent.send(t="join", roomId=room_id, token=agent_token)
    await agent.expect_error("room-full")

    # A participant leaves: the next participant takes that seat and learns the recorder's role from `joined`.
    await alice.send(t="leave")
    await carol.send(t="join", roomId=room_id)
    joined_c = await carol.receive()
    assert joined_c["t"] == "joined"
    assert joined_c["roles"] == {r: "recorder"}
    assert "role" not in joined_c


async def test_a_participant_token_never_gets_an_extra_seat(connect: Connect, room_id: str) -> None:
    await Room.objects.acreate(id=room_id, max_peers=1)
    first = await connect()
    await first.join(room_id)
    token, _ = issue_room_token(room_id, None)
    late = await connect()
    await late.send(t="join", roomId=room_id, token=token)
    await late.expect_error("room-full")


def test_a_token_with_an_unknown_role_is_no_token(settings: Any) -> None:
    from django.core import signing

    from signaling.tokens import SALT

    forged = signing.dumps({"r": "room", "u": None, "o": "superuser"}, salt=SALT, compress=False)
    assert read_room_token(forged) is None
    token, _ = issue_room_token("room", 7, PeerRole.AGENT)
    grant = read_room_token(token)
    assert grant is not None
    assert grant.role is PeerRole.AGENT
    assert grant.user_id == 7


@pytest.mark.parametrize("role", ["recorder", "agent"])
def test_only_staff_may_mint_a_token_with_a_role(role: str) -> None:
    Room.objects.create(id="staffed")
    visitor = User.objects.create_user("visitor")
    client = APIClient()
    client.force_authenticate(visitor)
    refused = client.post("/api/rooms/staffed/token", {"role": role}, format="json")
    assert refused.status_code == 403
    assert "staff" in refused.json()["detail"]
    assert APIClient().post("/api/rooms/staffed/token", {"role": role}, format="json").status_code in (401, 403)
    # An ordinary token stays anybody's to have.
    assert client.post("/api/rooms/staffed/token").json()["role"] is None

    staff = User.objects.create_user("moderator", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="change_room"))
    client.force_authenticate(staff)
    minted = client.post("/api/rooms/staffed/token", {"role": role}, format="json")
    assert minted.status_code == 201
    assert minted.json()["role"] == role
    grant = read_room_token(minted.json()["token"])
    assert grant is not None
    assert grant.role == role
    assert grant.user_id == staff.pk
    assert client.post("/api/rooms/staffed/token", {"role": "emperor"}, format="json").status_code == 400


def test_anyone_who_may_have_a_token_may_have_a_viewers_but_for_an_sfu_room_only() -> None:
    """A viewer's token gives less than a participant's (it cannot publish), so no staff is needed; in a mesh room
    nothing would hold a viewer to that, so none is minted for one."""
    Room.objects.create(id="webinar", topology="sfu")
    Room.objects.create(id="huddle")
    client = APIClient()
    client.force_authenticate(User.objects.create_user("attendee"))
    minted = client.post("/api/rooms/webinar/token", {"role": "viewer"}, format="json")
    assert minted.status_code == 201
    assert minted.json()["role"] == "viewer"
    grant = read_room_token(minted.json()["token"])
    assert grant is not None
    assert grant.role is PeerRole.VIEWER
    refused = client.post("/api/rooms/huddle/token", {"role": "viewer"}, format="json")
    assert refused.status_code == 400
    assert refused.json() == {"role": "A viewer's token is for SFU rooms only."}


def test_recording_without_the_peer_extra_is_a_clear_503(monkeypatch: pytest.MonkeyPatch) -> None:
    from rooms import server_recording

    Room.objects.create(id="unrecordable")
    staff = User.objects.create_user("recorder-staff", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="change_room"))
    client = APIClient()
    client.force_authenticate(staff)
    monkeypatch.setattr(server_recording, "can_record", lambda: False)
    started: list[str] = []
    monkeypatch.setattr(server_recording, "start_recorder_process", started.append)
    response = client.post("/api/rooms/unrecordable/record")
    assert response.status_code == 503
    assert "peer extra" in response.json()["detail"]
    assert started == []
