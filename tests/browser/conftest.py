"""Browser tests: Debian's Chromium driven by Playwright, against the reference project under a real daphne.

Chromium gets a fake camera and microphone and accepts every permission prompt. No ICE server is configured (the
server sends ``iceServers: []``), so peers connect over host candidates and nothing leaves the machine. Each page's
console is collected and shown with a failing test.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from rtcsite.servers import ROOT, DaphneProcess, JanusProcess, free_port
from tests.browser.python_peer import EventLoopThread

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    # getDisplayMedia picks this source without asking.
    "--auto-select-desktop-capture-source=Entire screen",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
HERE = Path(__file__).resolve().parent
BUILD = HERE / "build"


def run_manage(database: Path, *args: str, env: dict[str, str] | None = None) -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.browser.settings",
        "RTCSITE_DATABASE_URL": f"sqlite:///{database}",
        "RTCSITE_MEDIA_ROOT": str(database.parent / "media"),
        **(env or {}),
    }
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True)


class Site:
    """The reference project under daphne, with its own SQLite database."""

    def __init__(self, daphne: DaphneProcess, database: Path) -> None:
        self.daphne = daphne
        self.database = database

    @property
    def url(self) -> str:
        return self.daphne.http_url

    def create_superuser(self, username: str, password: str) -> None:
        run_manage(
            self.database,
            "createsuperuser",
            "--noinput",
            "--username",
            username,
            "--email",
            f"{username}@example.test",
            env={"DJANGO_SUPERUSER_PASSWORD": password},
        )

    def manage_env(self) -> dict[str, str]:
        """The environment of a ``manage.py`` command run against this site (its database, its media)."""
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.browser.settings",
            "RTCSITE_DATABASE_URL": f"sqlite:///{self.database}",
            "RTCSITE_MEDIA_ROOT": str(self.database.parent / "media"),
        }

    def record_call(self, room_id: str) -> contextlib.AbstractContextManager[subprocess.Popen[str]]:
        """``manage.py record_call`` on ``room_id``, ending a second after its last participant left."""
        return record_call(room_id, self.daphne.ws_url + "/api/call/signal", self.manage_env(), empty_for=1)

    def post_api(self, path: str, body: dict[str, Any] | None, credentials: tuple[str, str]) -> Any:
        """POST ``body`` (None: GET) to the REST API as the user ``credentials`` (username, password): the answer's
        JSON."""
        request = urllib.request.Request(
            f"{self.url}{path}",
            method="GET" if body is None else "POST",
            data=None if body is None else json.dumps(body).encode(),
            headers={
                "Content-Type": "application/json",
                "Authorization": "Basic " + base64.b64encode(":".join(credentials).encode()).decode(),
            },
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def kick(self, room_id: str, peer_id: str, credentials: tuple[str, str]) -> None:
        """Kick ``peer_id`` through the REST API, as the staff user ``credentials``."""
        assert self.post_api(f"/api/rooms/{room_id}/kick", {"peer_id": peer_id}, credentials) == {"kicked": True}

    def create_room(self, room_id: str, max_peers: int, topology: str = "mesh") -> None:
        run_manage(
            self.database,
            "shell",
            "-c",
            "from rooms.models import Room; "
            f"Room.objects.create(id={room_id!r}, max_peers={max_peers}, topology={topology!r})",
        )


@contextlib.contextmanager
def record_call(room_id: str, url: str, env: dict[str, str], empty_for: float) -> Iterator[subprocess.Popen[str]]:
    """``manage.py record_call`` on ``room_id`` through the signaling ``url``, for the block (killed at its end if
    it is still running): it ends once the room has had no participant for ``empty_for`` s, or on SIGTERM."""
    command = [sys.executable, "manage.py", "record_call", room_id, "--url", url, "--empty-for", str(empty_for)]
    recorder = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        yield recorder
    finally:
        if recorder.poll() is None:
            recorder.kill()


def recorder_output(recorder: subprocess.Popen[str]) -> str:
    """What a ``record_call`` process printed, once it ended (by itself, or stopped); it must have ended well."""
    output, _ = recorder.communicate(timeout=60)
    assert recorder.returncode == 0, output
    return output


@contextlib.contextmanager
def serve_site(env: dict[str, str] | None = None, address: str = "127.0.0.1", port: int = 0) -> Iterator[Site]:
    """The reference project under daphne with a new SQLite database; ``env`` adds to its environment (say,
    ``SIGNALING_SETTINGS``); it listens on ``address`` (a SplitNetwork's host address, say) and ``port`` (0: one the
    OS picks)."""
    directory = Path(tempfile.mkdtemp(prefix="browser-site-"))
    database = directory / "db.sqlite3"
    BUILD.mkdir(exist_ok=True)
    run_manage(database, "migrate", "--noinput")
    env = {
        "RTCSITE_DATABASE_URL": f"sqlite:///{database}",
        "RTCSITE_MEDIA_ROOT": str(directory / "media"),
        "DJANGO_ALLOWED_HOSTS": f"localhost,127.0.0.1,{address}",
        **(env or {}),
    }
    with DaphneProcess(
        env,
        settings_module="tests.browser.settings",
        application="tests.browser.asgi:application",
        address=address,
        port=port,
    ) as daphne:
        yield Site(daphne, database)


@pytest.fixture(scope="session")
def site() -> Iterator[Site]:
    with serve_site() as served:
        yield served


@pytest.fixture(scope="module")
def sfu_site_port() -> int:
    """The port the module's SFU site will listen on (its Janus posts its events there)."""
    return free_port()


@pytest.fixture(scope="module")
def janus(sfu_site_port: int) -> Iterator[JanusProcess]:
    """A Janus of the module's own (rtcsite.servers.JanusProcess), posting its events to the module's SFU site."""
    with JanusProcess(events_url=f"http://127.0.0.1:{sfu_site_port}/sfu/events") as process:
        yield process


@pytest.fixture(scope="module")
def sfu_site(janus: JanusProcess, sfu_site_port: int) -> Iterator[Site]:
    """The site, configured for SFU rooms through the module's Janus, whose events it logs."""
    settings = {
        "SFU_JANUS_URL": janus.url,
        "SFU_API_SECRET": janus.api_secret,
        "SFU_ADMIN_KEY": janus.admin_key,
        "SFU_EVENTS_SECRET": janus.events_secret,
    }
    with serve_site({"SIGNALING_SETTINGS": json.dumps(settings)}, port=sfu_site_port) as site:
        yield site


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Module scope: the sync API keeps an event loop set on this thread while it runs, which other modules'
    # tests (async ones, Django's async-safety checks) must not see.
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def browser_trusting_test_certificates() -> Iterator[Browser]:
    """Chromium as the suite's, which also takes the test's own certificate of coturn's TLS listener (`turns:`):
    it checks a TURN server's certificate as a web site's."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, "--ignore-certificate-errors"]
        )
        yield chromium
        chromium.close()


STAFF_PASSWORD = "staff-password"


def log_in_as_staff(page: Page, site: Site) -> str:
    """Log ``page`` in to the admin as a new superuser; its username."""
    username = f"staff-{uuid.uuid4().hex[:8]}"
    site.create_superuser(username, STAFF_PASSWORD)
    page.goto(f"{site.url}/admin/login/?next=/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", STAFF_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")
    return username


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    console: list[str] | None = getattr(item, "browser_console", None)
    if report.failed and console:
        report.sections.append(("browser console", "\n".join(console)))
    return report


@pytest.fixture
def peer_loop() -> Iterator[EventLoopThread]:
    loop = EventLoopThread()
    yield loop
    loop.close()


OpenPage = Callable[[str], Page]


@pytest.fixture
def open_page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[OpenPage]:
    """Open a page (a path of the site, or a full URL) in a context of its own, console collected."""
    yield from page_opener(browser, request.getfixturevalue("site").url, request)


def page_opener(
    browser: Browser, site_url: str, request: pytest.FixtureRequest, init_script: str | None = None
) -> Iterator[OpenPage]:
    """What ``open_page`` yields, for the site at ``site_url``, each page running ``init_script`` first; its
    contexts are closed when the generator resumes."""
    console: list[str] = []
    request.node.browser_console = console
    contexts = []

    def open_(path: str) -> Page:
        context = browser.new_context()
        if init_script is not None:
            context.add_init_script(init_script)
        contexts.append(context)
        page = context.new_page()
        name = f"page{len(contexts)}"

        def log(message: ConsoleMessage) -> None:
            console.append(f"[{name}] {message.type}: {message.text}")

        page.on("console", log)
        page.on("pageerror", lambda error: console.append(f"[{name}] page error: {error}"))
        page.set_default_timeout(20000)
        page.goto(path if "://" in path else site_url + path)
        return page

    yield open_
    for context in contexts:
        context.close()


def fresh_page(browser: Browser, url: str) -> Page:
    """A page in a context of its own at a full URL (a server other than the site fixture's): close its context."""
    page = browser.new_context().new_page()
    page.set_default_timeout(30_000)
    page.goto(url)
    return page


@pytest.fixture
def room_id() -> str:
    return f"browser-{uuid.uuid4().hex[:10]}"


def join(page: Page) -> None:
    """Click Join on a demo page: a real user gesture, as screen sharing and autoplay want."""
    page.click("#join")


def wait_connected(*pages: Page, peers: int = 1) -> None:
    """Wait until every page's call is connected to `peers` peers over open peer connections."""
    for page in pages:
        page.wait_for_function(
            """(peers) => window.call.state === 'connected' && window.call.remotePeerIds.length === peers
               && [...window.call.links.values()].filter((link) => link.isConnected).length === peers""",
            arg=peers,
        )


def connected_pair(open_page: OpenPage, page_path: str) -> tuple[Page, Page, str, str]:
    """Two demo pages (`/call/<room>/` or `/chat/<room>/`) joined and connected; with their peer ids."""
    alice, bob = open_page(page_path), open_page(page_path)
    join(alice)
    join(bob)
    wait_connected(alice, bob)
    return alice, bob, peer_id(alice), peer_id(bob)


def media_paths(site: Site, *peers: str, timeout: float = 10) -> dict[str, str]:
    """The media path each of ``peers``' sessions has in the site's log, once every one has one (the clients'
    ``path`` reports, written by the recorder within moments)."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.closing(sqlite3.connect(site.database, timeout=5)) as database:
            rows = dict(
                database.execute(
                    "SELECT peer_id, media_path FROM rooms_peersession WHERE peer_id IN "
                    f"({','.join('?' * len(peers))})",
                    peers,
                ).fetchall()
            )
        if all(rows.get(peer) for peer in peers) or time.monotonic() > deadline:
            return {peer: rows.get(peer, "") for peer in peers}
        time.sleep(0.1)


def peer_id(page: Page) -> str:
    value = page.evaluate("window.call.peerId")
    assert isinstance(value, str)
    return value


def record_messages(page: Page) -> None:
    """Keep every data channel message the page's call receives in window.received, as [from, label, data]
    with binary data as a list of byte values."""
    page.evaluate(
        """() => {
          window.received = [];
          const callbacks = window.call.options.callbacks ?? {};
          window.call.setOptions({ ...window.call.options, callbacks: { ...callbacks,
            onDataChannelMessage: (from, label, data) => {
              window.received.push([from, label, typeof data === 'string' ? data : [...new Uint8Array(data)]]);
              callbacks.onDataChannelMessage?.(from, label, data);
            } } });
        }"""
    )


def bundle(entry: Path, *options: str) -> Path:
    """Bundle an ES module of the tests and what it imports from node_modules with esbuild into build/ (served
    under /static/)."""
    esbuild = ROOT / "node_modules" / ".bin" / "esbuild"
    if not esbuild.exists():
        raise RuntimeError("node_modules is missing: scripts/test.sh installs it (npm ci)")
    BUILD.mkdir(exist_ok=True)
    output = BUILD / (entry.stem + ".js")
    subprocess.run(
        [str(esbuild), str(entry), "--bundle", "--format=esm", *options, f"--outfile={output}", "--log-level=warning"],
        cwd=ROOT,
        check=True,
    )
    return output


def build_react_test_page() -> Path:
    """Bundle tests/browser/react_app.jsx (React, ReactDOM and our hook)."""
    return bundle(HERE / "react_app.jsx", "--jsx=automatic", '--define:process.env.NODE_ENV="development"')


def build_agentuity_page() -> Path:
    """Bundle tests/browser/agentuity_client.js: Agentuity's own client from npm, for /static/agentuity_client.html."""
    return bundle(HERE / "agentuity_client.js")
