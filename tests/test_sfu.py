"""SFU rooms through Janus (issue 21), from the signaling endpoint: a real Janus, the consumer, and clients speaking
the protocol's SFU frames with aiortc connections of their own. Every participant receives every other one's video
through the SFU, keyed by our peer ids; data goes through the server, a directed message to its target only; a
client that cannot take part in an SFU room (Agentuity's, which knows only the mesh) is refused with
``sfu-unsupported``, and every join of one with ``sfu-unavailable`` while Janus is not there; the Janus room goes
with the room."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import numpy as np
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from rooms.models import Room
from rtcsite.servers import JanusProcess
from signaling.peer.media import GeneratedVideoTrack
from signaling.protocol import PeerRole, role_of
from signaling.sfu.janus import JanusConnection
from signaling.sfu.member import SfuMember
from signaling.sfu.service import get_sfu
from signaling.sfu.videoroom import JanusRoom, VideoRoomAdmin
from tests.conftest import Connect, Peer, settle

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def janus() -> Iterator[JanusProcess]:
    with JanusProcess() as process:
        yield process


def use_janus(settings: Any, janus: JanusProcess) -> None:
    """The SIGNALING settings of SFU rooms through ``janus``."""
    settings.SIGNALING = {
        **settings.SIGNALING,
        "SFU_JANUS_URL": janus.url,
        "SFU_API_SECRET": janus.api_secret,
        "SFU_ADMIN_KEY": janus.admin_key,
    }


@pytest.fixture
def sfu_settings(settings: Any, janus: JanusProcess) -> JanusProcess:
    use_janus(settings, janus)
    return janus


async def sfu_room(room_id: str) -> str:
    await Room.objects.acreate(id=room_id, topology="sfu")
    return room_id


class SfuClient:
    """A participant of an SFU room: its socket, a publishing connection (a generated video) and a subscribing one,
    answering every ``sfu-subscription``; it counts the video frames it receives per peer."""

    def __init__(self, peer: Peer) -> None:
        self.peer = peer
        self.publisher = RTCPeerConnection()
        self.subscriber = RTCPeerConnection()
        self.frames: dict[str, int] = {}
        #: The mean shade of the last frame from each peer: whose picture a stream carries.
        self.shades: dict[str, float] = {}
        self.data: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []
        self.mids: dict[str, str] = {}
        #: The type of every frame received, in order, and the frames themselves.
        self.kinds: list[str] = []
        self.received: list[dict[str, Any]] = []
        self._published: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._tasks: list[asyncio.Task[None]] = []
        self.subscriber.on("track", self._on_track)

    async def join(self, room_id: str, **fields: Any) -> dict[str, Any]:
        joined = await self.peer.join(room_id, capabilities=["sfu"], **fields)
        self._reader = asyncio.ensure_future(self._read())
        self._tasks.append(self._reader)
        return joined

    async def resume(self, peer: Peer, room_id: str, token: str) -> dict[str, Any]:
        """Come back on a new socket after this one dropped, keeping the connections with the SFU."""
        self._reader.cancel()
        self.peer = peer
        return await self.join(room_id, resume=token)

    async def publish(self, shade: int) -> None:
        self.publisher.addTrack(GeneratedVideoTrack(lambda i: np.full((90, 120, 3), shade, np.uint8), fps=15))
        await self.publisher.setLocalDescription(await self.publisher.createOffer())
        offer = self.publisher.localDescription
        await self.peer.send(t="sfu-publish", description={"type": offer.type, "sdp": offer.sdp})
        answer = await asyncio.wait_for(self._published, 10)
        await self.publisher.setRemoteDescription(RTCSessionDescription(answer["sdp"], answer["type"]))

    async def _read(self) -> None:
        while True:
            try:
                frame = await self.peer.receive(timeout=60)
            except (AssertionError, TimeoutError):
                return
            kind = frame["t"]
            self.kinds.append(kind)
            self.received.append(frame)
            if kind == "sfu-published":
                self._published.set_result(frame["description"])
            elif kind == "sfu-subscription":
                self.mids = {
                    stream["mid"]: stream["peerId"] for stream in frame["streams"] if stream["kind"] == "video"
                }
                offer = frame["description"]
                await self.subscriber.setRemoteDescription(RTCSessionDescription(offer["sdp"], offer["type"]))
                await self.subscriber.setLocalDescription(await self.subscriber.createAnswer())
                answer = self.subscriber.localDescription
                await self.peer.send(t="sfu-subscribed", description={"type": answer.type, "sdp": answer.sdp})
            elif kind == "data":
                self.data.append(frame)
            elif kind == "error":
                self.errors.append(frame)

    def _on_track(self, track: Any) -> None:
        if track.kind != "video":
            return
        transceiver = next(t for t in self.subscriber.getTransceivers() if t.receiver.track is track)

        async def count() -> None:
            with contextlib.suppress(MediaStreamError):
                while True:
                    frame = await track.recv()
                    peer_id = self.mids.get(str(transceiver.mid), "?")
                    self.frames[peer_id] = self.frames.get(peer_id, 0) + 1
                    self.shades[peer_id] = float(frame.to_ndarray(format="rgb24").mean())

        self._tasks.append(asyncio.ensure_future(count()))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await self.publisher.close()
        await self.subscriber.close()


@pytest.fixture
async def clients(connect: Connect) -> AsyncIterator[list[SfuClient]]:
    made: list[SfuClient] = []
    yield made
    for client in made:
        await client.close()


async def wait_until(condition: Any, timeout: float = 20) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)


def ice_ufrag(description: Mapping[str, Any]) -> str:
    return next(line.split(":", 1)[1] for line in description["sdp"].splitlines() if line.startswith("a=ice-ufrag:"))


@pytest.mark.sfu_media
async def test_sfu_restart_brings_a_fresh_offer_with_new_ice_credentials_for_the_same_streams(
    sfu_settings: JanusProcess, connect: Connect, clients: list[SfuClient], room_id: str
) -> None:
    """What a client whose subscriber relays asks for when it gets fresh TURN credentials: an ICE restart by
    Janus, whose offer goes to the client like any other."""
    await sfu_room(room_id)
    for _ in range(2):
        clients.append(SfuClient(await connect()))
    ids = [(await client.join(room_id))["peerId"] for client in clients]
    await clients[0].publish(90)
    watcher = clients[1]
    await wait_until(lambda: watcher.frames.get(ids[0], 0) >= 5)

    def offers() -> list[dict[str, Any]]:
        return [frame for frame in watcher.received if frame["t"] == "sfu-subscription"]

    before = offers()
    await watcher.peer.send(t="sfu-restart")
    await wait_until(lambda: len(offers()) > len(before))
    restarted = offers()[len(before)]
    assert ice_ufrag(restarted["description"]) != ice_ufrag(before[-1]["description"])
    # Whose each stream is stays named, though Janus's offer for a restart does not list them again.
    assert restarted["streams"] == before[-1]["streams"]
    assert watcher.errors == []


async def test_a_burst_of_sfu_restarts_is_one_restart() -> None:
    """Asks that come while a restart waits its turn are that one: a client cannot queue Janus's work."""
    member = SfuMember(None, JanusRoom.of("room", "key"), "peer", send=lambda frame: asyncio.sleep(0))  # type: ignore[arg-type]
    for _ in range(10):
        member.restart()
    member.restart(fresh=True)
    member.restart()
    assert member._changes.qsize() == 1
    assert member._changes.get_nowait() == ("restart", [], None)
    # One ask for a new connection among them, and the queued restart is that: an ICE restart would not do.
    assert member._restart == "fresh"


@pytest.mark.sfu_media
async def test_every_participant_sees_every_other_through_the_sfu_and_data_goes_where_it_is_sent(
    sfu_settings: JanusProcess, connect: Connect, clients: list[SfuClient], room_id: str
) -> None:
    await sfu_room(room_id)
    for _ in range(3):
        clients.append(SfuClient(await connect()))
    joined = [await client.join(room_id) for client in clients]
    assert all(frame["topology"] == "sfu" for frame in joined)
    ids = [frame["peerId"] for frame in joined]
    shades = {peer_id: 60 * (index + 1) for index, peer_id in enumerate(ids)}
    for client, own in zip(clients, ids, strict=True):
        await client.publish(shades[own])
    for client, own in zip(clients, ids, strict=True):
        others = [peer_id for peer_id in ids if peer_id != own]
        await wait_until(lambda c=client, o=others: all(c.frames.get(p, 0) >= 10 for p in o))
        assert own not in client.frames
        # Each stream is named by the peer whose picture it carries.
        assert all(abs(client.shades[peer_id] - shades[peer_id]) < 12 for peer_id in others), client.shades
    assert [client.errors for client in clients] == [[], [], []]

    # A directed message reaches its target alone; a broadcast, everyone else.
    await clients[0].peer.send(t="data", to=ids[1], label="chat", text="for you only")
    await clients[0].peer.send(t="data", label="chat", binary="AAEC")
    await wait_until(lambda: len(clients[1].data) == 2 and len(clients[2].data) == 1)
    assert clients[1].data[0] == {"t": "data", "from": ids[0], "label": "chat", "text": "for you only"}
    assert clients[2].data == [{"t": "data", "from": ids[0], "label": "chat", "binary": "AAEC"}]
    assert clients[0].data == []

    # When the room ends, so does its Janus room.
    for client in clients:
        await client.peer.close()
    await settle()
    assert await janus_room_exists(sfu_settings, room_id) is False


async def test_a_client_that_knows_only_the_mesh_is_refused_from_an_sfu_room(
    sfu_settings: JanusProcess, connect: Connect, room_id: str
) -> None:
    await sfu_room(room_id)
    agentuity_like = await connect()
    await agentuity_like.send(t="join", roomId=room_id)
    error = await agentuity_like.expect_error("sfu-unsupported")
    assert "mesh rooms" in error["message"]
    # The same client in a mesh room calls as before.
    await agentuity_like.join(room_id + "-mesh")
    await agentuity_like.assert_still_serving()


async def test_no_sfu_room_can_be_joined_without_the_sfu(settings: Any, connect: Connect, room_id: str) -> None:
    await sfu_room(room_id)
    peer = await connect()
    await peer.send(t="join", roomId=room_id, capabilities=["sfu"])
    await peer.expect_error("sfu-unavailable")
    await peer.join(room_id + "-mesh")  # mesh rooms are unaffected


async def test_a_janus_that_is_down_makes_sfu_joins_unavailable_and_they_work_when_it_is_back(
    settings: Any, connect: Connect, room_id: str
) -> None:
    with JanusProcess() as janus:
        use_janus(settings, janus)
        await sfu_room(room_id)
        janus.kill()
        first = await connect()
        await first.send(t="join", roomId=room_id, capabilities=["sfu"])
        await first.expect_error("sfu-unavailable")
        await first.join(room_id + "-mesh")
        janus.start()
        second = await connect()
        joined = await second.join(room_id, capabilities=["sfu"])
        assert joined["topology"] == "sfu"


async def test_a_janus_that_restarted_while_the_worker_kept_pinging_it_takes_joins_again(
    settings: Any, connect: Connect, room_id: str
) -> None:
    """The worker's session for room requests was of Janus's last life: a ping (readyz, the health checks) opens a
    new socket before any room request notices, and the next join must not use the session Janus no longer has."""
    with JanusProcess() as janus:
        use_janus(settings, janus)
        await sfu_room(room_id)
        first = await connect()
        await first.join(room_id, capabilities=["sfu"])
        await first.close()  # parked: nothing of this worker's is in a call when Janus goes
        await settle()
        janus.restart()
        sfu = get_sfu()
        assert sfu is not None
        await wait_until_async(sfu.ping)
        second = await connect()
        await sfu_room(room_id + "-b")
        joined = await second.join(room_id + "-b", capabilities=["sfu"])
        assert joined["topology"] == "sfu"


async def wait_until_async(condition: Any, timeout: float = 20) -> None:
    async with asyncio.timeout(timeout):
        while not await condition():
            await asyncio.sleep(0.1)


@pytest.mark.parametrize(
    "frame",
    [
        {"t": "sfu-publish", "description": {"type": "offer", "sdp": "v=0"}},
        {"t": "sfu-subscribed", "description": {"type": "answer", "sdp": "v=0"}},
        {"t": "sfu-ice", "target": "publisher", "candidate": None},
        {"t": "sfu-restart"},
        {"t": "sfu-quality", "peerId": "p", "quality": "low"},
        {"t": "data", "label": "chat", "text": "hi"},
    ],
)
async def test_sfu_frames_outside_an_sfu_room_are_refused(
    connect: Connect, room_id: str, frame: dict[str, Any]
) -> None:
    peer = await connect()
    await peer.join(room_id)
    await peer.send(**frame)
    await peer.expect_error("invalid-message", "Not in an SFU room")


@pytest.mark.sfu_media
async def test_a_kicked_participant_leaves_the_sfu_too(
    sfu_settings: JanusProcess, connect: Connect, clients: list[SfuClient], room_id: str
) -> None:
    from signaling import live

    await sfu_room(room_id)
    for _ in range(2):
        clients.append(SfuClient(await connect()))
    ids = [(await client.join(room_id))["peerId"] for client in clients]
    for shade, client in enumerate(clients):
        await client.publish(80 * (shade + 1))
    await wait_until(lambda: clients[0].frames.get(ids[1], 0) >= 5)
    connection = JanusConnection(sfu_settings.url, sfu_settings.api_secret)
    admin = VideoRoomAdmin(await (await connection.create_session()).attach(), sfu_settings.admin_key)
    try:
        assert sorted(p["id"] for p in await admin.participants(room_id)) == sorted(ids)
        assert await live.kick(room_id, ids[1]) is True
        await settle()
        for _ in range(100):
            if [p["id"] for p in await admin.participants(room_id)] == [ids[0]]:
                break
            await asyncio.sleep(0.05)
        assert [p["id"] for p in await admin.participants(room_id)] == [ids[0]]
        # The one who stays is offered a subscription without the kicked peer's streams.
        await wait_until(lambda: ids[1] not in clients[0].mids.values())
    finally:
        await connection.close()


async def test_a_participant_kicked_while_its_join_is_at_janus_is_kicked_once_it_is_in(
    sfu_settings: JanusProcess,
    connect: Connect,
    clients: list[SfuClient],
    room_id: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Its place is in the registry before its Janus join is done: a kick then is carried out when the join is,
    and is not lost (the moderator was told it was kicked)."""
    from signaling import live
    from signaling.sfu.member import SfuMember

    await sfu_room(room_id)
    alice = SfuClient(await connect())
    clients.append(alice)
    await alice.join(room_id)
    at_janus, go_on = asyncio.Event(), asyncio.Event()
    join = SfuMember.join

    async def held_join(member: SfuMember, display: str = "") -> list[str]:
        at_janus.set()
        await go_on.wait()
        return await join(member, display)

    monkeypatch.setattr(SfuMember, "join", held_join)
    bob = await connect()
    await bob.send(t="join", roomId=room_id, capabilities=["sfu"])
    await asyncio.wait_for(at_janus.wait(), 5)
    (bob_id,) = [peer for peer in live.room_members(room_id) if peer != alice.peer.peer_id]
    assert await live.kick(room_id, bob_id) is True
    go_on.set()
    assert (await bob.receive())["t"] == "joined"
    assert await bob.receive() == {"t": "closed", "reason": "kicked"}
    assert await bob.receive_close() == 4010
    bob.closed = True
    assert live.room_members(room_id) == [alice.peer.peer_id]
    await wait_until(lambda: {"t": "peer-left", "peerId": bob_id, "reason": "kicked"} in alice.received)


async def test_an_sfu_room_admits_sfu_max_peers_whatever_it_stores(
    sfu_settings: JanusProcess, settings: Any, connect: Connect, room_id: str
) -> None:
    from signaling import live

    settings.SIGNALING = {**settings.SIGNALING, "SFU_MAX_PEERS": 3}
    await Room.objects.acreate(id=room_id, topology="sfu", max_peers=10)
    assert live.capacity_of(10, "sfu") == (3, "SIGNALING['SFU_MAX_PEERS']")
    assert live.capacity_of(None, "sfu")[0] == 3
    assert live.capacity_of(2, "sfu") == (2, "this room's max peers")
    joined = [await (await connect()).join(room_id, capabilities=["sfu"]) for _ in range(3)]
    assert {frame["maxPeers"] for frame in joined} == {3}
    fourth = await connect()
    await fourth.send(t="join", roomId=room_id, capabilities=["sfu"])
    await fourth.expect_error("room-full")


async def test_readyz_says_whether_the_sfu_answers_and_stays_ready_without_it(settings: Any) -> None:
    from django.test import AsyncClient

    from signaling import metrics

    with JanusProcess() as janus:
        use_janus(settings, janus)
        ready = await AsyncClient().get("/readyz")
        assert (ready.status_code, ready.json()["sfu"]) == (200, "ok")
        assert metrics.SFU_UP._value.get() == 1
        janus.kill()
        ready = await AsyncClient().get("/readyz")
        # Mesh rooms do not need Janus: the worker stays in the load balancer's rotation.
        assert (ready.status_code, ready.json()) == (200, {"ready": True, "problems": [], "sfu": "unreachable"})
        assert metrics.SFU_UP._value.get() == 0


async def test_janus_killed_mid_call_ends_sfu_calls_with_the_documented_error_and_spares_mesh_rooms(
    settings: Any, connect: Connect, room_id: str
) -> None:
    with JanusProcess() as janus:
        use_janus(settings, janus)
        await sfu_room(room_id)
        in_sfu = await connect()
        await in_sfu.join(room_id, capabilities=["sfu"])
        alice, bob = await connect(), await connect()
        await alice.join(room_id + "-mesh")
        await bob.join(room_id + "-mesh")
        await alice.receive()  # peer-joined

        janus.kill()
        error = await in_sfu.receive(timeout=10)
        assert (error["t"], error["code"]) == ("error", "sfu-unavailable"), error
        # Closed with "try again later": the client comes back, and joins again once the SFU is there.
        assert await in_sfu.receive_close() == 1013
        await alice.send(t="ice", to=bob.peer_id, candidate={"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host"})
        assert (await bob.receive())["t"] == "ice"  # the mesh room carries on

        again = await connect()
        await again.send(t="join", roomId=room_id, capabilities=["sfu"])
        await again.expect_error("sfu-unavailable")
        janus.start()
        back = await connect()
        assert (await back.join(room_id, capabilities=["sfu"]))["topology"] == "sfu"


async def janus_admin_participants(janus: JanusProcess, room_id: str) -> list[Mapping[str, Any]]:
    """The participants Janus has in the room of ``room_id``, asked as the workers ask."""
    connection = JanusConnection(janus.url, janus.api_secret)
    try:
        return await VideoRoomAdmin(await (await connection.create_session()).attach(), janus.admin_key).participants(
            room_id
        )
    finally:
        await connection.close()


async def janus_participants(janus: JanusProcess, room_id: str) -> list[str]:
    """The ids of the participants Janus has in the room of ``room_id``."""
    return sorted(str(entry["id"]) for entry in await janus_admin_participants(janus, room_id))


async def janus_room_exists(janus: JanusProcess, room_id: str) -> bool:
    connection = JanusConnection(janus.url, janus.api_secret)
    try:
        return await VideoRoomAdmin(await (await connection.create_session()).attach(), janus.admin_key).exists(room_id)
    finally:
        await connection.close()


async def test_a_room_that_ends_when_its_parked_peer_expires_leaves_nothing_in_janus(
    sfu_settings: JanusProcess, settings: Any, connect: Connect, clients: list[SfuClient], room_id: str
) -> None:
    """The last peer's socket drops: parked, its Janus session waits for a resume that never comes. When the grace
    period ends the room does, where no consumer sees it, and its Janus room goes with it (and that session's
    participant)."""
    settings.SIGNALING = {**settings.SIGNALING, "RESUME_GRACE": 0.5}
    await sfu_room(room_id)
    alice = SfuClient(await connect())
    clients.append(alice)
    a = (await alice.join(room_id))["peerId"]
    await alice.peer.drop()
    await settle()
    assert await janus_participants(sfu_settings, room_id) == [a]  # parked, not gone
    async with asyncio.timeout(10):
        while await janus_room_exists(sfu_settings, room_id):
            await asyncio.sleep(0.1)
    assert await janus_participants(sfu_settings, room_id) == []


@pytest.mark.sfu_media
async def test_a_dropped_sfu_peer_resumes_with_its_janus_session_and_its_media_never_stops(
    sfu_settings: JanusProcess, connect: Connect, clients: list[SfuClient], room_id: str
) -> None:
    await sfu_room(room_id)
    alice, bob = SfuClient(await connect()), SfuClient(await connect())
    clients += [alice, bob]
    a = (await alice.join(room_id))["peerId"]
    joined_b = await bob.join(room_id)
    b = joined_b["peerId"]
    await alice.publish(60)
    await bob.publish(180)
    await wait_until(lambda: alice.frames.get(b, 0) >= 10 and bob.frames.get(a, 0) >= 10)

    # Bob's socket drops. His media with Janus never went through it: it goes on both ways.
    await bob.peer.drop()
    seen_by_bob, seen_by_alice = bob.frames[a], alice.frames[b]
    await wait_until(lambda: bob.frames[a] >= seen_by_bob + 10 and alice.frames[b] >= seen_by_alice + 10)
    # Carol comes and publishes while he is away: the events of that went to nobody.
    carol = SfuClient(await connect())
    clients.append(carol)
    c = (await carol.join(room_id))["peerId"]
    await carol.publish(120)
    await wait_until(lambda: alice.frames.get(c, 0) >= 5)

    again = await bob.resume(await connect(), room_id, joined_b["resume"])
    assert (again["peerId"], again["sfuSession"]) == (b, "kept")
    assert sorted(again["peers"]) == sorted([a, c])
    # Janus still has his first session's participant (taken over, not made anew) ...
    assert await janus_participants(sfu_settings, room_id) == sorted([a, b, c])
    # ... and his subscription catches up on Carol, on the connection it had.
    await wait_until(lambda: bob.frames.get(c, 0) >= 10)
    assert abs(bob.shades[c] - 120) < 12
    seen_by_bob = bob.frames[a]
    await wait_until(lambda: bob.frames[a] >= seen_by_bob + 10)
    # Nobody saw him go, and nobody's client had anything to complain about.
    assert "peer-left" not in alice.kinds + carol.kinds
    assert [client.errors for client in clients] == [[], [], []]


@pytest.mark.sfu_media
async def test_a_viewer_takes_a_participants_seat_sees_everyone_and_cannot_publish(
    sfu_settings: JanusProcess, connect: Connect, clients: list[SfuClient], room_id: str
) -> None:
    from signaling.tokens import issue_room_token

    await Room.objects.acreate(id=room_id, topology="sfu", max_peers=2)
    alice, viewer = SfuClient(await connect()), SfuClient(await connect())
    clients += [alice, viewer]
    a = (await alice.join(room_id))["peerId"]
    await alice.publish(90)
    token, _ = issue_room_token(room_id, None, PeerRole.VIEWER)
    joined = await viewer.join(room_id, token=token)
    v = joined["peerId"]
    assert (joined["role"], role_of(v)) == ("viewer", "viewer")
    await wait_until(lambda: viewer.frames.get(a, 0) >= 10)  # it watches ...
    assert abs(viewer.shades[a] - 90) < 12

    # ... but its offer to publish is refused, and Janus never has it as a publisher: nobody receives it.
    pc = RTCPeerConnection()
    pc.addTrack(GeneratedVideoTrack(lambda i: np.full((90, 120, 3), 200, np.uint8), fps=15))
    await pc.setLocalDescription(await pc.createOffer())
    await viewer.peer.send(t="sfu-publish", description={"type": "offer", "sdp": pc.localDescription.sdp})
    await wait_until(lambda: bool(viewer.errors))
    assert viewer.errors == [{"t": "error", "code": "forbidden", "message": "A viewer cannot publish in this room"}]
    await pc.close()
    assert "sfu-published" not in viewer.kinds
    assert v not in alice.frames
    assert "sfu-subscription" not in alice.kinds
    participants = {str(entry["id"]): entry for entry in await janus_admin_participants(sfu_settings, room_id)}
    assert participants[v]["publisher"] is False
    assert participants[a]["publisher"] is True

    # It sits in a participant's seat: with alice and the viewer, this room of 2 is full.
    third = await connect()
    await third.send(t="join", roomId=room_id, capabilities=["sfu"])
    await third.expect_error("room-full")


async def test_a_viewer_token_joins_no_mesh_room(connect: Connect, room_id: str) -> None:
    """Nothing in a mesh room would keep a viewer from sending its media to the others: its join is refused."""
    from signaling.tokens import issue_room_token

    await Room.objects.acreate(id=room_id)
    token, _ = issue_room_token(room_id, None, PeerRole.VIEWER)
    viewer = await connect()
    await viewer.send(t="join", roomId=room_id, token=token)
    await viewer.expect_error(
        "forbidden",
        "A viewer's token joins SFU rooms only: in a mesh room nothing keeps a viewer from sending its media",
    )
