"""A two-page video call in Chromium while every worker behind nginx is restarted, one after the other, with SIGTERM
(a rolling deploy): the pages keep their peer ids, their RTCPeerConnections and the remote video, and neither sees
the other leave."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import pytest
from playwright.sync_api import Page

from rtcsite.servers import ROOT, DaphneProcess, NginxProcess, PostgresDatabase, RedisProcess, wait_for_port
from tests.browser.conftest import OpenPage, join, peer_id, wait_connected
from tests.browser.test_mesh_and_reconnect import RECORD_EVENTS

DRAIN_SECONDS = 3.0


@contextmanager
def serve_workers_behind_nginx(
    count: int, signaling_settings: dict[str, object]
) -> Iterator[tuple[list[DaphneProcess], NginxProcess, dict[str, str]]]:
    """``count`` daphne workers of the reference project behind nginx, sharing PostgreSQL and Redis, with these
    SIGNALING settings; and the environment of a ``manage.py`` command against them."""
    with ExitStack() as resources:
        database = resources.enter_context(PostgresDatabase())
        redis = resources.enter_context(RedisProcess())
        env = {
            "RTCSITE_DATABASE_URL": database.url,
            "REDIS_URL": redis.url,
            "SIGNALING_SETTINGS": json.dumps(signaling_settings),
        }
        manage_env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.browser.settings", **env}
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, check=True, env=manage_env
        )
        workers = [
            resources.enter_context(
                DaphneProcess(
                    env,
                    settings_module="tests.browser.settings",
                    application="tests.browser.asgi:application",
                    args=("--proxy-headers",),
                )
            )
            for _ in range(count)
        ]
        nginx = resources.enter_context(NginxProcess([worker.port for worker in workers]))
        yield workers, nginx, manage_env
        for worker in workers:
            print(f"--- daphne {worker.port}\n{worker.output()[-5000:]}")


@pytest.fixture(scope="module")
def workers_behind_nginx() -> Iterator[tuple[list[DaphneProcess], NginxProcess]]:
    with serve_workers_behind_nginx(3, {"DRAIN_SECONDS": DRAIN_SECONDS}) as (workers, nginx, _):
        yield workers, nginx


def restart(worker: DaphneProcess) -> None:
    """Restart ``worker`` as a deploy does: SIGTERM (it drains), then a new process on the same port."""
    assert worker.process is not None
    os.kill(worker.pid, signal.SIGTERM)
    worker.process.wait(DRAIN_SECONDS + 10)
    worker.start()
    wait_for_port(worker.port)


def remote_video_plays(page: Page, remote: str) -> None:
    page.wait_for_function(
        """([peer, since]) => { const v = document.querySelector(`figure[data-peer='${peer}'] video`);
             return v && v.videoWidth > 0 && v.currentTime > since; }""",
        arg=[
            remote,
            page.evaluate(f"document.querySelector(`figure[data-peer='{remote}'] video`)?.currentTime ?? 0") + 0.5,
        ],
    )


def test_video_call_survives_a_rolling_restart_of_every_worker(
    open_page: OpenPage, workers_behind_nginx: tuple[list[DaphneProcess], NginxProcess], room_id: str
) -> None:
    workers, nginx = workers_behind_nginx
    site = f"http://127.0.0.1:{nginx.port}"
    alice, bob = open_page(f"{site}/call/{room_id}/"), open_page(f"{site}/call/{room_id}/")
    for page in (alice, bob):
        join(page)
        page.wait_for_function("window.call.peerId !== null")
    wait_connected(alice, bob)
    for page in (alice, bob):
        page.evaluate(RECORD_EVENTS)
    a, b = peer_id(alice), peer_id(bob)
    for page, other in ((alice, b), (bob, a)):
        page.evaluate("() => { window.connectionBefore = window.call.links.values().next().value.pc; }")
        remote_video_plays(page, other)

    for worker in workers:
        restart(worker)
        # Whoever was on it came back; the call goes on.
        for page in (alice, bob):
            page.wait_for_function(
                "window.call.getSnapshot().reconnectAttempt === 0 && window.call.state === 'connected'"
            )

    for page, me, other in ((alice, a, b), (bob, b, a)):
        assert peer_id(page) == me
        assert page.evaluate("window.call.remotePeerIds") == [other]
        assert page.evaluate("window.call.links.values().next().value.pc === window.connectionBefore")
        events = page.evaluate("window.events")
        assert not [event for event in events if event.startswith(("left:", "joined:", "failed"))], events
        remote_video_plays(page, other)
    # Signaling still works end to end: an ICE restart needs an offer and an answer through the server.
    sdp = "() => window.call.links.values().next().value.pc.remoteDescription.sdp"
    before = bob.evaluate(sdp)
    alice.evaluate(f"window.call.links.get({b!r}).restartIce()")
    bob.wait_for_function(f"() => ({sdp})() !== {before!r}")
    wait_connected(alice, bob)
