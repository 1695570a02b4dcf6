"""SFU rooms on two Janus nodes (issue 23), behind nginx with two daphne workers and Redis: new rooms are spread
over both nodes, which `/metrics` and `manage.py sfu_nodes` show; a node killed mid-call (SIGKILL) and a node
drained for maintenance each lose their rooms to the other node, and every page in them keeps its peer id, sees
nobody leave, and decodes everyone's video again after a gap we measure (printed; the benchmark reports it)."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import websockets.sync.client
from playwright.sync_api import Page

from rtcsite.servers import ROOT, DaphneProcess, JanusProcess, NginxProcess
from tests.browser.conftest import OpenPage, join, peer_id, record_call, recorder_output
from tests.browser.python_peer import CountingPeer, EventLoopThread
from tests.browser.test_mesh_and_reconnect import RECORD_EVENTS
from tests.browser.test_rolling_restart import DRAIN_SECONDS, serve_workers_behind_nginx
from tests.browser.test_sfu_rolling_restart import decodes_everyone

pytestmark = pytest.mark.sfu_media

#: Every sfu-moved frame the page's call takes, counted in window.moves.
COUNT_MOVES = """() => {
  window.moves = 0;
  const callbacks = window.call.options.callbacks ?? {};
  window.call.setOptions({ ...window.call.options, callbacks: { ...callbacks,
    onSfuMoved: () => { window.moves += 1; callbacks.onSfuMoved?.(); },
  } });
}"""


#: Every 100 ms, the frames the page decodes of each remote peer's video, by peer (a move brings a new subscribing
#: connection, whose counts start again at 0, and whose mids may be other peers'): the longest time each peer's video
#: went without a new frame (ms) is `window.longestStall[peer]`, a peer missing from the stats stalling meanwhile;
#: `window.steadySince`, since when no peer's video went 300 ms without one.
WATCH_FRAMES = """() => {
  window.longestStall = {};
  window.steadySince = performance.now();
  const last = {};
  let watched = null;
  window.frameWatch = setInterval(async () => {
    const sfu = window.call.sfu;
    const pc = sfu?.subscriber;
    if (!pc) return;
    if (pc !== watched) {
      for (const peer in last) last[peer].frames = 0;
      watched = pc;
    }
    const stats = await pc.getStats();
    const now = performance.now();
    const seen = new Set();
    stats.forEach((r) => {
      const peer = r.type === 'inbound-rtp' && r.kind === 'video' ? sfu.peerOfMid.get(r.mid) : undefined;
      if (!peer) return;
      seen.add(peer);
      const known = last[peer];
      if (!known || r.framesDecoded > known.frames) last[peer] = { frames: r.framesDecoded, at: now };
      if (known) window.longestStall[peer] = Math.max(window.longestStall[peer] ?? 0, now - last[peer].at);
    });
    for (const peer in last) {
      const stall = now - last[peer].at;
      if (!seen.has(peer)) window.longestStall[peer] = Math.max(window.longestStall[peer] ?? 0, stall);
      if (stall > 300) window.steadySince = now;
    }
  }, 100);
}"""


@dataclass
class Cluster:
    nodes: dict[str, JanusProcess]
    workers: list[DaphneProcess]
    nginx: NginxProcess
    manage_env: dict[str, str]

    @property
    def site(self) -> str:
        return f"http://127.0.0.1:{self.nginx.port}"

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.manage_env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def create_room(self, room_id: str) -> None:
        self.manage(
            "shell", "-c", f"from rooms.models import Room; Room.objects.create(id={room_id!r}, topology='sfu')"
        )

    def record_call(self, room_id: str, media: Path) -> contextlib.AbstractContextManager[subprocess.Popen[str]]:
        """``manage.py record_call`` on the room (through nginx), saving into ``media``, until it is stopped."""
        return record_call(room_id, self.signal_url, {**self.manage_env, "RTCSITE_MEDIA_ROOT": str(media)}, 60)

    def recordings(self, room_id: str, media: Path) -> dict[str, Path]:
        """The room's complete recordings: stream (peer) id -> file."""
        listed = self.manage(
            "shell",
            "-c",
            "import json; from rooms.models import Recording; print(json.dumps([(r.stream_id, r.file.name) for r in "
            f"Recording.objects.filter(room_id={room_id!r}, status='complete')]))",
        )
        return {peer: media / name for peer, name in json.loads(listed.splitlines()[-1])}

    @property
    def signal_url(self) -> str:
        return f"ws://127.0.0.1:{self.nginx.port}/api/call/signal"

    def node_table(self) -> dict[str, tuple[str, int, int]]:
        """`manage.py sfu_nodes`: node -> (state, rooms, peers)."""
        table = {}
        for line in self.manage("sfu_nodes").splitlines():
            name, state, rooms, peers, _ = line.split("\t")
            table[name] = (state, int(rooms.split()[0]), int(peers.split()[0]))
        return table

    def node_of(self, room_id: str) -> str:
        """The node the room is placed on, read from the registry's Redis (what every worker reads)."""
        with redis.Redis.from_url(self.manage_env["REDIS_URL"], decode_responses=True) as client:
            node = client.hget("signaling:sfu:placed", room_id)
        assert node is not None, f"{room_id} is on no node"
        return str(node)

    def is_down(self, node: str) -> bool:
        with redis.Redis.from_url(self.manage_env["REDIS_URL"], decode_responses=True) as client:
            return bool(client.exists(f"signaling:sfu:down:{node}"))


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with ExitStack() as resources:
        a = resources.enter_context(JanusProcess(admin_api=True))
        b = resources.enter_context(JanusProcess(admin_api=True, api_secret=a.api_secret, admin_key=a.admin_key))
        settings = {
            "DRAIN_SECONDS": DRAIN_SECONDS,
            "SFU_NODES": {"a": {"URL": a.url}, "b": {"URL": b.url}},
            "SFU_API_SECRET": a.api_secret,
            "SFU_ADMIN_KEY": a.admin_key,
            "SFU_HEALTH_INTERVAL": 0.5,
            "SFU_DRAIN_STEP": 1.0,
            "SFU_DOWN_HOLD": 8.0,
        }
        workers, nginx, manage_env = resources.enter_context(serve_workers_behind_nginx(2, settings))
        yield Cluster({"a": a, "b": b}, workers, nginx, manage_env)
        for name, node in (("a", a), ("b", b)):
            print(f"--- janus {name}\n{node.log()[-2000:]}")


def decoded_video_times(path: Path) -> list[float]:
    """When (s, from the file's start) each video frame of a recording plays, of the frames that decode."""
    import av

    with av.open(str(path)) as container:
        return [float(frame.time) for frame in container.decode(video=0) if frame.time is not None]


def rounded(gaps: list[float]) -> list[int]:
    return [round(gap) for gap in gaps]


def wait_for(condition: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def metrics_of(worker: DaphneProcess) -> str:
    with urllib.request.urlopen(f"{worker.http_url}/metrics", timeout=10) as answer:
        return answer.read().decode()


def gauge(text: str, name: str, node: str) -> float:
    match = re.search(rf'^{name}{{node="{node}"}} (\S+)$', text, re.M)
    assert match, f"{name} for {node} is not in /metrics"
    return float(match.group(1))


def test_six_sfu_rooms_are_spread_over_both_nodes_and_the_metrics_and_the_command_show_it(
    cluster: Cluster, room_id: str
) -> None:
    rooms = [f"{room_id}-{n}" for n in range(6)]
    with ExitStack() as open_sockets:
        sockets = []
        for room in rooms:
            cluster.create_room(room)
            url = f"ws://127.0.0.1:{cluster.nginx.port}/api/call/signal"
            socket = open_sockets.enter_context(websockets.sync.client.connect(url))
            sockets.append(socket)
            socket.send(json.dumps({"t": "join", "roomId": room, "capabilities": ["sfu"]}))
            joined = json.loads(socket.recv(timeout=15))
            assert joined["t"] == "joined", joined
            assert joined["topology"] == "sfu", joined
        table = cluster.node_table()
        assert (table["a"][1], table["b"][1]) == (3, 3), table
        placed = {room: cluster.node_of(room) for room in rooms}
        assert sorted(placed.values()).count("a") == 3, placed
        for worker in cluster.workers:
            text = metrics_of(worker)
            assert gauge(text, "signaling_sfu_node_rooms", "a") == 3
            assert gauge(text, "signaling_sfu_node_rooms", "b") == 3
            assert re.search(r'^signaling_sfu_node_state\{node="a",state="up"\} 1\.0$', text, re.M), text
        # Each peer's Janus session is on its room's node.
        assert len(cluster.nodes["a"].sessions()) >= 3
        assert len(cluster.nodes["b"].sessions()) >= 3
        for socket in sockets:
            socket.send(json.dumps({"t": "leave"}))
    # The rooms ended with their peers: no node carries them any more.
    wait_for(lambda: all(rooms == 0 for _, rooms, _ in cluster.node_table().values()))


def call_of_four(
    cluster: Cluster, open_page: OpenPage, room_id: str, peer_loop: EventLoopThread
) -> tuple[list[Page], CountingPeer, list[str]]:
    """Three pages and a Python peer in an SFU room, each page decoding the three others, watching for stalls from
    now on."""
    cluster.create_room(room_id)
    pages = [open_page(f"{cluster.site}/call/{room_id}/") for _ in range(3)]
    for page in pages:
        join(page)
        page.wait_for_function("window.call.peerId !== null")
    python = peer_loop.run(CountingPeer.make(f"ws://127.0.0.1:{cluster.nginx.port}/api/call/signal", room_id, 90))
    peer_loop.run(python.call.connect())
    for page in pages:
        decodes_everyone(page, 3)
        page.evaluate(RECORD_EVENTS)
        page.evaluate(COUNT_MOVES)
        page.evaluate(WATCH_FRAMES)
    for page in pages:
        page.wait_for_function("performance.now() - window.steadySince > 2000", timeout=30000)
        page.evaluate("() => { window.longestStall = {}; }")
    ids = [peer_id(page) for page in pages]
    wait_for(lambda: all(python.video.get(page, 0) >= 20 for page in ids))
    python.longest_video_gap.clear()
    return pages, python, [*ids, python.peer_id]


def assert_moved_and_kept(
    pages: list[Page], python: CountingPeer, ids: list[str], silent: tuple[str, ...] = ()
) -> list[float]:
    """Every page and the Python peer moved, receive everyone's video again, kept their ids and saw nobody leave
    (``silent``: peers in the room that publish nothing, a recorder); each one's longest gap in a remote video
    (ms)."""
    gaps = []
    for page in pages:
        page.wait_for_function("window.moves >= 1", timeout=30000)
        decodes_everyone(page, 3)
    wait_for(lambda: python.moves >= 1)
    after_move = dict(python.video)
    wait_for(lambda: all(python.video.get(page, 0) >= after_move.get(page, 0) + 20 for page in ids[:3]))
    assert python.peer_id == ids[3]
    assert python.left == {}
    assert sorted(python.call.remote_peer_ids) == sorted([*ids[:3], *silent])
    for page, me in zip(pages, ids[:3], strict=True):
        page.wait_for_function(
            """() => { const pc = window.call.sfu?.subscriber; return pc && pc.connectionState === 'connected'; }"""
        )
        assert peer_id(page) == me
        assert sorted(page.evaluate("window.call.remotePeerIds")) == sorted({*ids, *silent} - {me})
        events = page.evaluate("window.events")
        # Nobody left or came, and no socket reconnected: the move happened on the signaling socket as it was.
        assert not [event for event in events if event.startswith(("left:", "joined:", "failed", "reconnect"))], events
        page.wait_for_function("performance.now() - window.steadySince > 1000", timeout=30000)
        page.evaluate("clearInterval(window.frameWatch)")
        stalls = page.evaluate("window.longestStall")
        assert sorted(stalls) == sorted(set(ids) - {me}), stalls
        gaps.append(max(stalls.values()))
    gaps.append(1000 * max(python.longest_video_gap.values()))
    return gaps


def test_a_node_killed_mid_call_loses_its_room_to_the_other_node_and_nobody_leaves(
    cluster: Cluster, open_page: OpenPage, room_id: str, peer_loop: EventLoopThread
) -> None:
    pages, python, ids = call_of_four(cluster, open_page, room_id, peer_loop)
    node = cluster.node_of(room_id)
    other = "b" if node == "a" else "a"

    cluster.nodes[node].kill()
    wait_for(lambda: cluster.is_down(node), timeout=10)
    gaps = assert_moved_and_kept(pages, python, ids)
    print(f"SIGKILL of node {node}: longest video gap of each page and the Python peer (ms): {rounded(gaps)}")
    assert cluster.node_of(room_id) == other
    peer_loop.run(python.call.hangup())

    cluster.nodes[node].start()  # for the next test: it is back (and up again once a worker hears it answer)


def test_a_node_that_hangs_is_found_by_the_health_checks_and_loses_its_room(
    cluster: Cluster, open_page: OpenPage, room_id: str, peer_loop: EventLoopThread
) -> None:
    pages, python, ids = call_of_four(cluster, open_page, room_id, peer_loop)
    node = cluster.node_of(room_id)
    janus = cluster.nodes[node].process
    assert janus is not None
    # SIGSTOP: its sockets stay open, it just stops answering (a hung process, a partitioned host).
    os.kill(janus.pid, signal.SIGSTOP)
    try:
        gaps = assert_moved_and_kept(pages, python, ids)
        print(f"SIGSTOP of node {node}: longest video gap of each page and the Python peer (ms): {rounded(gaps)}")
        assert cluster.node_of(room_id) != node
    finally:
        os.kill(janus.pid, signal.SIGCONT)
    peer_loop.run(python.call.hangup())


def test_a_drained_node_hands_its_rooms_over_one_by_one_and_ends_with_no_session(
    cluster: Cluster, open_page: OpenPage, room_id: str, peer_loop: EventLoopThread, tmp_path: Path
) -> None:
    """The room is recorded too (``record_call``, the recorder peer): the recorder moves with everyone else, and each
    participant's recording goes on through the move, in one file that plays from its start to the recording's
    end."""
    pages, python, ids = call_of_four(cluster, open_page, room_id, peer_loop)
    with cluster.record_call(room_id, tmp_path) as recorder:
        roles = python.call.roles
        wait_for(lambda: len(roles) == 1)
        (recorder_id,) = roles
        recorder_in = time.monotonic()
        for page in pages:
            page.wait_for_function(f"window.call.remotePeerIds.includes({recorder_id!r})")
            page.evaluate("() => { window.events.length = 0; }")  # its join is the one expected
        node = cluster.node_of(room_id)
        other = "b" if node == "a" else "a"

        out = cluster.manage("sfu_nodes", "--drain", node, "--wait", "60")
        assert f"{node}: drained" in out, out
        gaps = assert_moved_and_kept(pages, python, ids, silent=(recorder_id,))
        print(f"drain of node {node}: longest video gap of each page and the Python peer (ms): {rounded(gaps)}")
        assert cluster.node_of(room_id) == other
        after_move = dict(python.video)
        wait_for(lambda: all(python.video.get(page, 0) >= after_move.get(page, 0) + 20 for page in ids[:3]))
        recorder.send_signal(signal.SIGTERM)
        recorded_for = time.monotonic() - recorder_in
        output = recorder_output(recorder)
    recordings = cluster.recordings(room_id, tmp_path)
    assert sorted(recordings) == sorted(ids), (recordings, output)
    for peer, path in recordings.items():
        frames = decoded_video_times(path)
        # From (about) the recorder's join to its stop, through the move: no frame lost to a clock that jumped.
        assert frames, (peer, output)
        assert frames[-1] - frames[0] >= recorded_for - 2.5, (peer, frames[0], frames[-1], recorded_for)
        assert frames[-1] <= recorded_for + 1, (peer, frames[-1], recorded_for)
        longest_gap = max(later - earlier for earlier, later in itertools.pairwise(frames))
        assert longest_gap < 5, (peer, longest_gap)
    peer_loop.run(python.call.hangup())
    # Nothing of ours is left on the node: the peers' sessions ended, and the workers gave back their own.
    wait_for(lambda: cluster.nodes[node].sessions() == [])
    assert cluster.node_table()[node][0] == "draining"
    cluster.manage("sfu_nodes", "--undrain", node)
    assert cluster.node_table()[node][0] in ("up", "down")
