"""The Python peer against real servers: two of them call each other through nginx and the Redis-backed workers,
keep their call across a worker's restart, and meet every refusal and failure with a typed error, never a hang."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from websockets.asyncio.client import connect

from rtcsite.servers import ROOT, DaphneProcess, free_port, wait_for_port
from signaling.peer import (
    DataChannelMessage,
    DataChannelOpen,
    ErrorOccurred,
    GeneratedVideoTrack,
    Joined,
    PeerUpdated,
    TrackReceived,
    WebRTCCall,
    WebRTCCallError,
)
from tests.test_e2e_workers import PREFIX, Stack, running_stack
from tests.wsclient import eventually, receive, send

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with running_stack({"RESUME_GRACE": 10, "DRAIN_SECONDS": 3, "MAX_PEERS": 2}) as running:
        yield running


def grey(index: int) -> np.ndarray:
    return np.full((120, 160, 3), 128, np.uint8)


async def test_two_python_peers_call_through_nginx_and_keep_the_call_across_a_worker_restart(stack: Stack) -> None:
    room = f"py-{time.time_ns()}"
    url = stack.nginx.ws_url + "/api/call/signal"
    alice = WebRTCCall(url, room, data_channels=["chat"], tracks=[GeneratedVideoTrack(grey)])
    bob = WebRTCCall(url, room, data_channels=["chat"])
    tracks: asyncio.Queue[TrackReceived] = asyncio.Queue()
    bob.on(TrackReceived, tracks.put_nowait)
    messages: asyncio.Queue[DataChannelMessage] = asyncio.Queue()
    bob.on(DataChannelMessage, messages.put_nowait)
    rejoins: list[Joined] = []
    for call in (alice, bob):
        call.on(Joined, rejoins.append)
    chat_open = asyncio.Event()
    alice.on(DataChannelOpen, lambda event: chat_open.set())
    await alice.connect()
    await bob.connect()
    assert alice.peer_id
    assert bob.peer_id
    assert bob.remote_peer_ids == [alice.peer_id]
    await asyncio.wait_for(chat_open.wait(), 20)
    video = (await asyncio.wait_for(tracks.get(), 20)).track
    assert (await asyncio.wait_for(video.recv(), 20)).width == 160

    # The worker holding the room goes away (a deploy): both peers are told to come back and resume elsewhere.
    worker = stack.worker_of(room, alice.peer_id)
    process = next(w for w in stack.workers if stack.pid_of(worker) == w.pid)
    ids = (alice.peer_id, bob.peer_id)
    os.kill(process.pid, signal.SIGTERM)
    frames_during = 0
    started = time.monotonic()
    while time.monotonic() - started < 5:
        await asyncio.wait_for(video.recv(), 5)
        frames_during += 1
    await asyncio.to_thread(process.process.wait, 20)  # type: ignore[union-attr]
    await asyncio.to_thread(process.start)
    await asyncio.to_thread(wait_for_port, process.port)

    async def resumed() -> None:
        while (
            not all(call.state in ("signaling", "connected") for call in (alice, bob))
            or len([j for j in rejoins if j.resumed]) < 2
        ):
            await asyncio.sleep(0.1)

    await asyncio.wait_for(resumed(), 30)
    assert (alice.peer_id, bob.peer_id) == ids
    assert sorted(stack.store().hkeys(f"{PREFIX}:room:{room}")) == sorted(ids)
    # Media never stopped (it goes peer to peer), and data goes on after the resume.
    assert frames_during > 60, frames_during
    await asyncio.wait_for(video.recv(), 5)
    assert alice.send_string("chat", "after the restart") == 1
    while (message := await asyncio.wait_for(messages.get(), 10)).data != "after the restart":
        pass
    assert message.peer_id == alice.peer_id
    await alice.hangup()
    await bob.hangup()
    await eventually(lambda: not stack.store().exists(f"{PREFIX}:room:{room}"))


async def test_refusals_are_typed_errors(stack: Stack) -> None:
    url = stack.nginx.ws_url + "/api/call/signal"
    room = f"full-{time.time_ns()}"
    first, second = WebRTCCall(url, room), WebRTCCall(url, room)
    await first.connect()
    await second.connect()
    third = WebRTCCall(url, room, auto_reconnect=False)
    with pytest.raises(WebRTCCallError) as full:
        await third.connect()
    assert full.value.code == "room-full"
    assert third.state == "failed"
    # A call that has ended has no more events: iterating them ends at once.
    assert [event async for event in third.events()] == []
    await first.hangup()
    await second.hangup()

    closed = f"closed-{time.time_ns()}"
    stack.sql(
        "INSERT INTO rooms_room (id, name, is_open, access, ad_hoc, created_at, updated_at) "
        "VALUES (%s, '', false, 'anonymous', false, now(), now())",
        closed,
    )
    with pytest.raises(WebRTCCallError) as shut:
        await WebRTCCall(url, closed).connect()
    assert shut.value.code == "room-closed"

    with pytest.raises(WebRTCCallError) as bad_token:
        await WebRTCCall(url, f"t-{time.time_ns()}", token="not-a-token").connect()
    assert bad_token.value.code == "forbidden"

    with pytest.raises(WebRTCCallError) as unreachable:
        await asyncio.wait_for(WebRTCCall(f"ws://127.0.0.1:{free_port()}/api/call/signal", "r").connect(), 15)
    assert unreachable.value.code == "signaling-unreachable"

    with pytest.raises(ValueError, match="signal_url must be a ws:, wss:, http: or https: URL"):
        WebRTCCall("ftp://example.org/", "r")
    with pytest.raises(ValueError, match="room_id must be 1 to 128 letters"):
        WebRTCCall(url, "no spaces allowed")


async def test_a_server_that_goes_away_ends_the_call_with_reconnect_failed(tmp_path: Path) -> None:
    env = {"RTCSITE_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        check=True,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "rtcsite.settings", **env},
    )
    with DaphneProcess(env) as daphne:
        call = WebRTCCall(daphne.ws_url + "/api/call/signal", f"gone-{time.time_ns()}", max_reconnect_attempts=2)
        errors: list[WebRTCCallError] = []
        call.on(ErrorOccurred, lambda event: errors.append(event.error))
        await call.connect()
        daphne.stop()
        await asyncio.wait_for(call.wait_closed(), 30)
    assert call.state == "failed"
    assert call.error is not None
    assert call.error.code == "reconnect-failed"
    assert [error.code for error in errors][-1] == "reconnect-failed"


async def test_garbage_sdp_fails_that_peer_only(stack: Stack) -> None:
    url = stack.nginx.ws_url + "/api/call/signal"
    room = f"garbage-{time.time_ns()}"
    call = WebRTCCall(url, room)
    errors: asyncio.Queue[WebRTCCallError] = asyncio.Queue()
    call.on(ErrorOccurred, lambda event: errors.put_nowait(event.error))
    await call.connect()
    socket = await connect(url + f"?room={room}")
    await send(socket, t="join", roomId=room)
    joined = await receive(socket)
    vandal = joined["peerId"]
    await send(socket, t="sdp", to=call.peer_id, description={"type": "offer", "sdp": "v=0\r\nthis is not sdp\r\n"})
    error = await asyncio.wait_for(errors.get(), 10)
    assert error.code == "negotiation-failed"
    assert error.peer_id == vandal
    assert call.state in ("signaling", "connected")
    assert call.remote_peer_ids == [vandal]
    await socket.close()
    await call.hangup()


async def test_a_voice_agent_hears_a_peer_and_answers_it(stack: Stack) -> None:
    """The documented voice-agent loop: each audio frame of the caller goes to a function, whose frames are
    played back to the caller (here the function answers with the tone it hears, half as loud)."""
    from signaling.peer import GeneratedAudioTrack, tone
    from signaling.peer.agents import voice_loop

    url = stack.nginx.ws_url + "/api/call/signal"
    room = f"agent-{time.time_ns()}"
    heard: list[int] = []

    def respond(frame: Any) -> Any:
        samples = frame.to_ndarray()
        heard.append(int(np.abs(samples.astype(np.int32)).max()))
        quieter = (samples // 2).astype(samples.dtype)
        answer = av.AudioFrame.from_ndarray(quieter, format=frame.format.name, layout=frame.layout.name)
        answer.sample_rate = frame.sample_rate
        return answer

    agent = WebRTCCall(url, room)
    voice_loop(agent, respond)
    caller = WebRTCCall(url, room, tracks=[GeneratedAudioTrack(tone(440.0, level=0.5))])
    answers: asyncio.Queue[TrackReceived] = asyncio.Queue()
    caller.on(TrackReceived, answers.put_nowait)
    await agent.connect()
    await caller.connect()
    loudest = 0
    while loudest < 2000:
        event = await asyncio.wait_for(answers.get(), 20)
        if event.track.kind != "audio":
            continue
        for _ in range(200):
            frame = await asyncio.wait_for(event.track.recv(), 10)
            loudest = max(loudest, int(np.abs(frame.to_ndarray().astype(np.int32)).max()))
            if loudest >= 2000:
                break
    assert max(heard) > 8000  # the agent heard the tone (0.5 of full scale)
    await caller.hangup()
    await agent.hangup()


def http(url: str, method: str = "GET", user: str = "staff") -> tuple[int, Any]:
    import base64
    import json as json_module
    import urllib.error
    import urllib.request

    credentials = base64.b64encode(f"{user}:{user}-password".encode()).decode()
    request = urllib.request.Request(url, method=method, headers={"Authorization": f"Basic {credentials}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json_module.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json_module.loads(error.read() or b"null")


async def test_staff_start_and_stop_a_server_recording_over_rest(tmp_path: Path) -> None:
    import json as json_module

    port = free_port()
    env = {
        "RTCSITE_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "RTCSITE_MEDIA_ROOT": str(tmp_path / "media"),
        "SIGNALING_SETTINGS": json_module.dumps({"PEER_SIGNAL_URL": f"ws://127.0.0.1:{port}/api/call/signal"}),
    }
    manage = {**os.environ, "DJANGO_SETTINGS_MODULE": "rtcsite.settings", **env}
    await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        check=True,
        env=manage,
    )
    room = f"rec-{time.time_ns()}"
    setup = (
        f"from django.contrib.auth.models import User; from rooms.models import Room; "
        f"Room.objects.create(id={room!r}, max_peers=1); "
        f"User.objects.create_superuser('staff', password='staff-password'); "
        f"User.objects.create_user('visitor', password='visitor-password')"
    )
    await asyncio.to_thread(
        subprocess.run, [sys.executable, "manage.py", "shell", "-c", setup], cwd=ROOT, check=True, env=manage
    )
    with DaphneProcess(env, port=port) as daphne:
        api = f"{daphne.http_url}/api/rooms/{room}/record"
        participant = WebRTCCall(daphne.ws_url + "/api/call/signal", room, tracks=[GeneratedVideoTrack(grey)])
        await participant.connect()
        assert (await asyncio.to_thread(http, api, "POST", "visitor"))[0] == 403
        assert await asyncio.to_thread(http, api, "POST") == (202, {"recorders": 1})
        await eventually(lambda: "recorder" in participant.roles.values(), timeout=30)
        # The room (for one) was full: the recorder sits in an extra seat. A second start is refused.
        assert (await asyncio.to_thread(http, api, "POST"))[0] == 409
        await asyncio.sleep(3)
        assert await asyncio.to_thread(http, api, "DELETE") == (200, {"recorders": 1})
        await eventually(lambda: not participant.roles, timeout=15)

        async def saved() -> bool:
            status, body = await asyncio.to_thread(http, f"{daphne.http_url}/api/recordings/?room={room}")
            return status == 200 and [r["stream_id"] for r in body["results"]] == [participant.peer_id]

        await eventually(saved, timeout=20)
        _status, body = await asyncio.to_thread(http, f"{daphne.http_url}/api/recordings/?room={room}")
        assert body["results"][0]["status"] == "complete"
        assert body["results"][0]["duration"] > 1
        await participant.hangup()


async def test_a_recording_goes_on_across_a_worker_restart(stack: Stack, tmp_path: Path) -> None:
    """The recorder and the participant it records are both on the worker that a deploy restarts: both resume
    elsewhere under their ids, the peer-to-peer media never stops, and the one file covers the whole call."""
    from signaling.peer import GeneratedAudioTrack, tone
    from signaling.peer.recording import CallRecorder, RecordedStream
    from signaling.protocol import PeerRole
    from signaling.tokens import issue_room_token

    url = stack.nginx.ws_url + "/api/call/signal"
    room = f"rec-restart-{time.time_ns()}"
    participant = WebRTCCall(url, room, tracks=[GeneratedVideoTrack(grey), GeneratedAudioTrack(tone())])
    token, _ = issue_room_token(room, None, PeerRole.RECORDER)
    call = WebRTCCall(url, room, token=token, video_codecs=("VP8",))
    saved: list[RecordedStream] = []
    recorder = CallRecorder(call, tmp_path, on_saved=saved.append)
    resumed: list[Joined] = []
    for each in (participant, call):
        each.on(Joined, lambda event: resumed.append(event) if event.resumed else None)
    await participant.connect()
    await call.connect()
    started = time.monotonic()
    await asyncio.sleep(3)

    worker = stack.worker_of(room, participant.peer_id or "")
    process = next(w for w in stack.workers if stack.pid_of(worker) == w.pid)
    os.kill(process.pid, signal.SIGTERM)
    await asyncio.to_thread(process.process.wait, 20)  # type: ignore[union-attr]
    await asyncio.to_thread(process.start)
    await asyncio.to_thread(wait_for_port, process.port)
    await eventually(lambda: len(resumed) >= 2, timeout=30)
    await asyncio.sleep(3)
    await participant.hangup()
    length = time.monotonic() - started
    await eventually(lambda: bool(saved), timeout=10)
    await call.hangup()
    await recorder.stop()

    (stream,) = saved
    assert stream.peer_id == participant.peer_id
    assert stream.has_video
    assert stream.has_audio
    assert abs(stream.duration - length) <= 0.1 * length, (stream.duration, length)
    with av.open(str(stream.path)) as container:
        times = [float(frame.time) for frame in container.decode(video=0)]
    # No gap in the picture while the signaling moved: frames every 1/30 s, none missing for more than half a second.
    assert len(times) > 20 * length
    assert max(b - a for a, b in itertools.pairwise(times)) < 0.5


async def test_the_python_peer_knows_the_others_names_and_media_and_tells_its_own(stack: Stack) -> None:
    """Metadata and media state (extensions), as the browser client has them: from `joined`, `peer-joined` and
    `peer-updated`, both ways."""
    url = stack.nginx.ws_url + "/api/call/signal"
    room = f"names-{time.time_ns()}"
    ada = WebRTCCall(url, room, metadata={"name": "Ada"})
    await ada.connect()
    bo = WebRTCCall(url, room, metadata={"name": "Bo"})
    updates: asyncio.Queue[PeerUpdated] = asyncio.Queue()
    bo.on(PeerUpdated, updates.put_nowait)
    await bo.connect()
    try:
        assert ada.peer_id is not None
        assert bo.peer_id is not None
        assert bo.peer_metadata == {ada.peer_id: {"name": "Ada"}}  # from `joined`
        await eventually(lambda: ada.peer_metadata.get(str(bo.peer_id)) == {"name": "Bo"})  # from `peer-joined`
        ada.update(metadata={"name": "Ada L."}, media={"audio": False, "video": True})
        update = await asyncio.wait_for(updates.get(), 10)
        assert update == PeerUpdated(ada.peer_id, {"name": "Ada L."}, bo.peer_media[ada.peer_id])
        assert bo.peer_metadata[ada.peer_id] == {"name": "Ada L."}
        assert bo.peer_media[ada.peer_id]["audio"] is False
        assert bo.peer_media[ada.peer_id]["video"] is True
        with pytest.raises(ValueError, match="update needs metadata or media"):
            ada.update()
        await ada.hangup()
        await eventually(lambda: bo.peer_metadata == {} and bo.peer_media == {})  # forgotten when she leaves
    finally:
        await ada.hangup()
        await bo.hangup()
