"""`join.resume`: a peer whose connection dropped takes its place back, under its old id, within the grace period."""

from __future__ import annotations

from typing import Any

import pytest

from rooms.models import PeerSession, RoomEvent
from signaling.resume import resume_token
from tests.conftest import Connect, Peer, settle

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("registry_kind")]


async def resume_on_a_new_socket(connect: Connect, room_id: str, token: str) -> tuple[Peer, dict[str, Any]]:
    """A new socket joins with a resume token; its `joined`."""
    again = await connect()
    await again.send(t="join", roomId=room_id, resume=token)
    resumed = await again.receive()
    assert resumed["t"] == "joined", resumed
    return again, resumed


async def two_in_room(connect: Connect, room_id: str) -> tuple[Peer, Peer]:
    """Alice, then Bob, in the room; Alice has heard Bob arrive."""
    alice, bob = await connect(), await connect()
    await alice.join(room_id)
    await bob.join(room_id)
    await alice.receive()  # peer-joined
    return alice, bob


async def test_dropped_peer_resumes_unseen_and_gets_what_it_missed(connect: Connect, room_id: str) -> None:
    alice, bob = await connect(), await connect()
    await alice.join(room_id)
    joined = await bob.join(room_id)
    await alice.receive()  # peer-joined
    await bob.drop()
    await alice.assert_silent(0.2)  # no peer-left: bob may come back
    # Alice goes on talking to bob while he is away.
    await alice.send(t="ice", to=bob.peer_id, candidate={"candidate": "while-away-1"})
    await alice.send(t="ice", candidate={"candidate": "while-away-2"})

    again, resumed = await resume_on_a_new_socket(connect, room_id, joined["resume"])
    assert resumed["peerId"] == bob.peer_id
    assert resumed["peers"] == [alice.peer_id]
    assert resumed["maxPeers"] == 2
    assert [(await again.receive())["candidate"]["candidate"] for _ in range(2)] == ["while-away-1", "while-away-2"]
    await alice.assert_silent()  # neither peer-left nor peer-joined
    # The call goes on both ways under the old id.
    await again.send(t="ice", to=alice.peer_id, candidate={"candidate": "back"})
    assert await alice.receive() == {"t": "ice", "from": bob.peer_id, "candidate": {"candidate": "back"}}
    await alice.send(t="ice", to=bob.peer_id, candidate={"candidate": "welcome"})
    assert (await again.receive())["candidate"] == {"candidate": "welcome"}
    await settle()
    session = await PeerSession.objects.aget(peer_id=bob.peer_id)
    assert session.left_at is None
    assert not await RoomEvent.objects.filter(peer_id=bob.peer_id, kind="peer_left").aexists()


async def test_after_the_grace_period_the_peer_has_left(connect: Connect, room_id: str, settings: Any) -> None:
    settings.SIGNALING = {**settings.SIGNALING, "RESUME_GRACE": 0.3}
    alice, bob = await connect(), await connect()
    await alice.join(room_id)
    joined = await bob.join(room_id)
    await alice.receive()
    await bob.drop()
    assert await alice.receive(timeout=2) == {"t": "peer-left", "peerId": bob.peer_id, "reason": "disconnect"}
    # Too late to resume: an ordinary join, with a new id that the room hears of.
    again = await connect()
    await again.send(t="join", roomId=room_id, resume=joined["resume"])
    fresh = await again.receive()
    assert fresh["t"] == "joined"
    assert fresh["peerId"] != bob.peer_id
    assert await alice.receive() == {"t": "peer-joined", "peerId": fresh["peerId"]}
    await settle()
    session = await PeerSession.objects.aget(peer_id=bob.peer_id)
    assert session.leave_reason == "disconnect"
    assert session.left_at is not None


@pytest.mark.parametrize("token", ["not-a-token", "", 42, None])
async def test_bad_resume_token_is_an_ordinary_join(connect: Connect, room_id: str, token: object) -> None:
    _, bob = await two_in_room(connect, room_id)
    await bob.drop()
    stranger = await connect()
    await stranger.send(t="join", roomId=room_id, resume=token)
    answer = await stranger.receive()
    # Bob's seat is still held, so the room (of two) is full for a newcomer.
    assert answer == {"t": "error", "code": "room-full", "message": "Room is full (max 2 peers)"}


async def test_token_of_another_room_or_peer_resumes_nothing(connect: Connect, room_id: str, settings: Any) -> None:
    settings.SIGNALING = {**settings.SIGNALING, "MAX_PEERS": 4}
    alice, bob = await two_in_room(connect, room_id)
    await bob.drop()
    for token in (resume_token(f"{room_id}-other", bob.peer_id or ""), resume_token(room_id, "someone-else")):
        newcomer = await connect()
        await newcomer.send(t="join", roomId=room_id, resume=token)
        answer = await newcomer.receive()
        assert answer["t"] == "joined"
        assert answer["peerId"] != bob.peer_id
        assert (await alice.receive())["t"] == "peer-joined"


async def test_page_going_away_leaves_at_once(connect: Connect, room_id: str) -> None:
    alice, bob = await two_in_room(connect, room_id)
    await bob.drop(code=1001)  # the page went away: no resume wanted
    assert await alice.receive() == {"t": "peer-left", "peerId": bob.peer_id, "reason": "disconnect"}


async def test_no_grace_means_no_parking(connect: Connect, room_id: str, settings: Any) -> None:
    settings.SIGNALING = {**settings.SIGNALING, "RESUME_GRACE": 0}
    alice, bob = await two_in_room(connect, room_id)
    await bob.drop()
    assert await alice.receive() == {"t": "peer-left", "peerId": bob.peer_id, "reason": "disconnect"}


async def test_a_resume_takes_over_a_socket_that_still_looks_open(connect: Connect, room_id: str) -> None:
    """A client that moved networks comes back before the server noticed its old socket was gone: the newest
    connection wins (as LiveKit does with a duplicate identity), the old socket is closed with 4014, and the room
    sees nothing."""
    alice, bob = await connect(), await connect()
    await alice.join(room_id)
    joined = await bob.join(room_id)
    await alice.receive()
    again, resumed = await resume_on_a_new_socket(connect, room_id, joined["resume"])
    assert resumed["peerId"] == bob.peer_id
    assert resumed["peers"] == [alice.peer_id]
    assert await bob.receive_close() == 4014
    bob.closed = True
    await alice.assert_silent(0.3)
    await alice.send(t="ice", to=bob.peer_id, candidate={"candidate": "to the new socket"})
    assert (await again.receive())["candidate"] == {"candidate": "to the new socket"}
    await settle()
    session = await PeerSession.objects.aget(peer_id=bob.peer_id)
    assert session.left_at is None


async def test_a_token_cannot_take_anyone_elses_place(connect: Connect, room_id: str) -> None:
    alice, bob = await connect(), await connect()
    joined_a = await alice.join(room_id)
    await bob.join(room_id)
    await alice.receive()
    # A token for another room, or a forged one, makes an ordinary join (refused here: the room is full).
    for token in (resume_token("elsewhere", bob.peer_id or ""), joined_a["resume"][:-3] + "abc", "junk"):
        intruder = await connect()
        await intruder.send(t="join", roomId=room_id, resume=token)
        await intruder.expect_error("room-full")
    await alice.assert_silent()
    await bob.assert_still_serving()


def from_client(address: str, user_agent: str) -> dict[str, Any]:
    """Connection options of a socket from this address and browser."""
    return {"client": (address, 50000), "headers": [(b"user-agent", user_agent.encode())]}


async def test_a_client_without_resume_gets_the_seat_of_its_own_dropped_connection(
    connect: Connect, room_id: str
) -> None:
    """The seed's client comes back from a dropped connection with a plain join, under a new id: in a full room
    the seat its old connection still holds goes to it (the old one leaves), instead of a refusal it never
    recovers from."""
    alice = await connect(**from_client("10.0.0.1", "Browser A"))
    bob = await connect(**from_client("10.0.0.2", "Browser B"))
    await alice.join(room_id)
    dropped = await bob.join(room_id)
    await alice.receive()  # peer-joined
    await bob.drop()
    again = await connect(**from_client("10.0.0.2", "Browser B"))
    joined = await again.join(room_id)
    assert joined["peerId"] != bob.peer_id
    assert joined["peers"] == [alice.peer_id]
    assert await alice.receive() == {"t": "peer-left", "peerId": bob.peer_id, "reason": "disconnect"}
    assert await alice.receive() == {"t": "peer-joined", "peerId": joined["peerId"]}
    await settle()
    session = await PeerSession.objects.aget(peer_id=bob.peer_id)
    assert session.leave_reason == "disconnect"
    # The old connection's resume finds no place any more: it is an ordinary join, refused by the full room.
    late = await connect(**from_client("10.0.0.2", "Browser B"))
    await late.send(t="join", roomId=room_id, resume=dropped["resume"])
    await late.expect_error("room-full")


@pytest.mark.parametrize("stranger", [("10.0.0.3", "Browser B"), ("10.0.0.2", "Browser C"), (None, "Browser B")])
async def test_a_strangers_join_finds_a_dropped_peers_seat_held(
    connect: Connect, room_id: str, stranger: tuple[str | None, str]
) -> None:
    alice = await connect(**from_client("10.0.0.1", "Browser A"))
    bob = await connect(**from_client("10.0.0.2", "Browser B"))
    await alice.join(room_id)
    dropped = await bob.join(room_id)
    await alice.receive()
    await bob.drop()
    address, user_agent = stranger
    options = from_client(address, user_agent) if address else {"headers": [(b"user-agent", user_agent.encode())]}
    newcomer = await connect(**options)
    await newcomer.send(t="join", roomId=room_id)
    await newcomer.expect_error("room-full")
    await alice.assert_silent(0.2)
    # Bob's seat was kept for him.
    _, resumed = await resume_on_a_new_socket(connect, room_id, dropped["resume"])
    assert resumed["peerId"] == bob.peer_id
