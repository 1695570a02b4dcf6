"""Janus as a private media server (issue 21): a real Janus Gateway with the configuration this project writes, and
the workers' client of its API. Nobody without the workers' credentials gets anything of it: no request without
the API secret, no room without the admin key, no join without that room's own pin; only its API port listens,
on loopback; and a peer's session outlives the worker connection it was made on (a claim takes it back)."""

from __future__ import annotations

import asyncio
import io
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from rtcsite.servers import JanusProcess
from signaling.sfu.janus import JanusConnection, JanusError, JanusReply, JanusUnavailable
from signaling.sfu.janus_config import JanusConfig
from signaling.sfu.videoroom import JanusRoom, VideoRoomAdmin, publisher_join

UNAUTHORIZED = 403


@pytest.fixture(scope="module")
def janus() -> Iterator[JanusProcess]:
    with JanusProcess(reclaim_timeout=20) as process:
        yield process


@pytest.fixture
async def connection(janus: JanusProcess) -> AsyncIterator[JanusConnection]:
    connection = JanusConnection(janus.url, api_secret=janus.api_secret)
    yield connection
    await connection.close()


async def admin_of(connection: JanusConnection, admin_key: str) -> VideoRoomAdmin:
    session = await connection.create_session()
    return VideoRoomAdmin(await session.attach(), admin_key)


@pytest.mark.parametrize("secret", [None, "wrong", ""])
async def test_no_request_is_taken_without_the_api_secret(janus: JanusProcess, secret: str | None) -> None:
    stranger = JanusConnection(janus.url, api_secret=secret)
    try:
        with pytest.raises(JanusError) as refused:
            await stranger.create_session()
        assert refused.value.code == UNAUTHORIZED
        with pytest.raises(JanusError):
            await stranger.claim_session(1)
        # `info` is the one request Janus answers to anyone who reaches the port: it names no libraries here.
        info = await stranger.request({"janus": "info"})
        assert "dependencies" not in info.raw
    finally:
        await stranger.close()


@pytest.mark.parametrize("admin_key", [None, "not-the-key"])
async def test_rooms_are_created_only_with_the_admin_key(
    janus: JanusProcess, connection: JanusConnection, admin_key: str | None
) -> None:
    session = await connection.create_session()
    handle = await session.attach()
    body = {"request": "create", "room": "someone-elses", "publishers": 50}
    if admin_key is not None:
        body["admin_key"] = admin_key
    with pytest.raises(JanusError):
        await handle.message(body)
    admin = VideoRoomAdmin(handle, janus.admin_key)
    assert await admin.participants("someone-elses") == []
    await session.destroy()


async def test_a_room_is_joined_only_with_its_own_pin(janus: JanusProcess, connection: JanusConnection) -> None:
    admin = await admin_of(connection, janus.admin_key)
    room_a = await admin.ensure("room-a", publishers=10)
    room_b = await admin.ensure("room-b", publishers=10)
    assert await admin.ensure("room-a", publishers=10) == room_a  # a second worker's ensure finds it
    assert room_a.pin != room_b.pin
    assert room_a.janus_id != room_b.janus_id
    peer = await connection.create_session()
    handle = await peer.attach()
    for pin in (None, room_b.pin, "guess"):
        body = publisher_join(room_a, "peer-x")
        if pin is None:
            del body["pin"]
        else:
            body["pin"] = pin
        with pytest.raises(JanusError):
            await handle.message(body, asynchronous=True)
    joined = await handle.message(publisher_join(room_a, "peer-x", "Ada"), asynchronous=True)
    assert joined.plugin["videoroom"] == "joined"
    assert joined.plugin["id"] == "peer-x"
    assert [p["id"] for p in await admin.participants("room-a")] == ["peer-x"]
    assert await admin.participants("room-b") == []

    # Destroying the room takes its participants with it, and leaves nothing to list.
    assert await admin.destroy("room-a") is True
    assert await admin.destroy("room-a") is False
    assert await admin.exists("room-a") is False
    await admin.destroy("room-b")
    await peer.destroy()


async def test_a_session_outlives_its_connection_and_is_claimed_by_another(
    janus: JanusProcess, connection: JanusConnection
) -> None:
    """A worker stops: its connection to Janus goes, but the peer's session (and its place in the room) waits for
    another worker's claim."""
    admin = await admin_of(connection, janus.admin_key)
    room = await admin.ensure("room-claimed", publishers=4)
    first = JanusConnection(janus.url, api_secret=janus.api_secret)
    session = await first.create_session()
    handle = await session.attach()
    await handle.message(publisher_join(room, "peer-kept"), asynchronous=True)
    await first.close()

    second = JanusConnection(janus.url, api_secret=janus.api_secret)
    try:
        claimed = await second.claim_session(session.session_id)
        assert [p["id"] for p in await admin.participants("room-claimed")] == ["peer-kept"]
        await claimed.destroy()
        for _ in range(50):  # the hang-up is Janus's to finish
            if not await admin.participants("room-claimed"):
                break
            await asyncio.sleep(0.1)
        assert await admin.participants("room-claimed") == []
    finally:
        await second.close()
        await admin.destroy("room-claimed")


async def test_a_janus_that_is_not_there_is_unavailable_not_a_hang() -> None:
    from rtcsite.servers import free_port

    nowhere = JanusConnection(f"ws://127.0.0.1:{free_port()}", api_secret="x")
    with pytest.raises(JanusUnavailable):
        await nowhere.create_session()


def test_only_the_api_port_listens_and_only_on_loopback(janus: JanusProcess) -> None:
    assert janus.process is not None
    listening = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, check=True).stdout
    ours = [line.split()[3] for line in listening.splitlines() if f"pid={janus.process.pid}," in line]
    assert ours == [f"127.0.0.1:{janus.port}"]


def test_the_configuration_loads_only_the_videoroom_and_the_websocket_api(tmp_path: Path) -> None:
    files = JanusConfig(api_secret="s", admin_key="k").files(tmp_path)
    core = files["janus.jcfg"]
    assert 'api_secret = "s"' in core
    assert "libjanus_http.so" in core  # in the disable lists
    assert "libjanus_streaming.so" in core
    assert "libjanus_videoroom.so" not in core.split("plugins: {")[1].split("}")[0]
    assert 'admin_key = "k"' in files["janus.plugin.videoroom.jcfg"]
    assert 'ws_ip = "127.0.0.1"' in files["janus.transport.websockets.jcfg"]
    assert "admin_ws = false" in files["janus.transport.websockets.jcfg"]
    assert JanusRoom.of("r", "k").pin != JanusRoom.of("r", "other key").pin


def test_the_operators_command_writes_the_configuration_of_the_sites_settings(settings: Any, tmp_path: Path) -> None:
    from django.core.management import CommandError, call_command

    settings.SIGNALING = {
        **settings.SIGNALING,
        "SFU_JANUS_URL": "ws://10.0.0.7:8288",
        "SFU_API_SECRET": "the-secret",
        "SFU_ADMIN_KEY": "the-key",
    }
    call_command("janus_config", str(tmp_path), "--rtp-ports", "30000-30999", stdout=io.StringIO())
    core = (tmp_path / "janus.jcfg").read_text()
    assert 'api_secret = "the-secret"' in core
    assert 'rtp_port_range = "30000-30999"' in core
    api = (tmp_path / "janus.transport.websockets.jcfg").read_text()
    assert 'ws_ip = "10.0.0.7"' in api
    assert "ws_port = 8288" in api
    assert 'ws_acl = "10.0.0.7"' in api
    assert 'admin_key = "the-key"' in (tmp_path / "janus.plugin.videoroom.jcfg").read_text()
    assert oct((tmp_path / "janus.jcfg").stat().st_mode & 0o777) == "0o600"
    assert "reclaim_session_timeout = 30" in core
    # A session must wait for its resume at least as long as the server keeps the peer's place.
    settings.SIGNALING = {**settings.SIGNALING, "RESUME_GRACE": 45}
    with pytest.raises(CommandError, match="RESUME_GRACE"):
        call_command("janus_config", str(tmp_path), stdout=io.StringIO())
    call_command("janus_config", str(tmp_path), "--reclaim-timeout", "60", stdout=io.StringIO())
    assert "reclaim_session_timeout = 60" in (tmp_path / "janus.jcfg").read_text()


def test_the_operators_command_needs_the_sfu_settings(settings: Any, tmp_path: Path) -> None:
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="SFU_JANUS_URL"):
        call_command("janus_config", str(tmp_path))


async def test_a_request_cancelled_as_its_answer_comes_is_cancelled() -> None:
    """A member's worker is cancelled (its peer leaves) while it waits for Janus: the cancellation wins even when
    the answer arrives in the same turn of the loop, so that whoever cancelled it is not left waiting forever
    (asyncio.wait_for on Python 3.11 returned the answer instead)."""

    class Socket:
        async def send(self, text: str) -> None:
            pass

    connection = JanusConnection("ws://127.0.0.1:9/")
    connection._socket = Socket()  # type: ignore[assignment]  # connected, as far as request() looks
    request = asyncio.ensure_future(connection.request({"janus": "keepalive"}))
    while not connection._pending:
        await asyncio.sleep(0)
    (pending,) = connection._pending.values()
    pending.future.set_result(JanusReply.of({"janus": "success"}))
    request.cancel()
    with pytest.raises(asyncio.CancelledError):
        await request
