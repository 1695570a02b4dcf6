"""Real server processes of the reference project, for the end-to-end tests and the benchmarks alike: daphne running
rtcsite on a free port, Redis, Sentinel, nginx, coturn, Janus and PostgreSQL databases of their own."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from playwright.sync_api import Page

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")
LISTENING = re.compile(r"Listening on TCP address [\d.]+:(\d+)")


class DaphneProcess:
    """``daphne rtcsite.asgi:application`` (or another application) on 127.0.0.1 and a port the OS picks, its output
    kept in a file."""

    # Twisted listens with a backlog of 50 unless told: a burst of connections would wait out SYN retries.
    ENDPOINT = "tcp:port=0:interface=127.0.0.1:backlog=2048"

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        settings_module: str = "rtcsite.settings",
        start_timeout: float = 30,
        args: tuple[str, ...] = (),
        application: str = "rtcsite.asgi:application",
        port: int = 0,
        address: str = "127.0.0.1",
    ) -> None:
        self.env = {**os.environ, "DJANGO_SETTINGS_MODULE": settings_module, **(env or {})}
        self.start_timeout = start_timeout
        self.args = args
        self.application = application
        self.log = tempfile.NamedTemporaryFile(prefix="daphne-", suffix=".log", delete=False)
        self.process: subprocess.Popen[bytes] | None = None
        self.port = port
        #: Where it listens, and the host of its URLs (another than loopback for hosts of a SplitNetwork).
        self.address = address

    def start(self) -> DaphneProcess:
        """Start daphne (again, on the same port, once it has been started before)."""
        endpoint = self.ENDPOINT.replace("port=0", f"port={self.port}").replace("127.0.0.1", self.address)
        offset = len(self.output())
        self.process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-e", endpoint, *self.args, self.application],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            match = LISTENING.search(self.output()[offset:])
            if match:
                self.port = int(match.group(1))
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"daphne did not start:\n{self.output()}")

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def ws_url(self) -> str:
        return f"ws://{self.address}:{self.port}"

    @property
    def http_url(self) -> str:
        return f"http://{self.address}:{self.port}"

    def rss_bytes(self) -> int:
        """The process's resident memory now."""
        return rss_bytes(self.pid)

    def cpu_seconds(self) -> float:
        """The CPU time the process has used so far (user and system), from /proc."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        terminate(self.process, grace=10)

    def __enter__(self) -> DaphneProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        Path(self.log.name).unlink(missing_ok=True)


def terminate(process: subprocess.Popen[Any] | None, grace: float) -> None:
    """Stop ``process`` if it runs: SIGTERM, and SIGKILL after ``grace`` seconds."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def rss_bytes(pid: int) -> int:
    """Resident memory of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RedisProcess:
    """A ``redis-server`` of the test's own on a free port, keeping nothing on disk; it can be restarted.

    Each start runs in a new empty directory of its own: a Redis started where a ``dump.rdb`` lies loads it (a
    replica's full sync writes one where it runs), and state of an earlier run would leak into this one."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.directory: Path | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisProcess:
        self.directory = Path(tempfile.mkdtemp(prefix="redis-"))
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
                "--loglevel",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as connection:
                    connection.sendall(b"PING\r\n")
                    if connection.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    def restart(self, down_for: float = 0.0) -> None:
        """Kill and start again on the same port: everything Redis held is gone."""
        self.stop()
        time.sleep(down_for)
        self.start()

    def __enter__(self) -> RedisProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class SentinelCluster:
    """A Redis master, one replica and three sentinels (``redis-server --sentinel``) on free ports, with fast
    failure detection; ``kill_master()`` makes the sentinels promote the replica."""

    MASTER = "rtcmaster"

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="sentinel-"))
        self.master = RedisProcess()
        self.replica_port = free_port()
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{self.MASTER}/0"

    def _redis_server(self, *args: str) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(["redis-server", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.processes.append(process)
        return process

    def start(self) -> SentinelCluster:
        self.master.start()
        # In a directory of its own: its full sync writes a dump.rdb where it runs.
        self._redis_server(
            "--port",
            str(self.replica_port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.directory),
            "--replicaof",
            "127.0.0.1",
            str(self.master.port),
        )
        wait_for_port(self.replica_port)
        self._wait_until_replicating()
        for port in self.sentinel_ports:
            config = self.directory / f"sentinel-{port}.conf"
            config.write_text(
                f"port {port}\nbind 127.0.0.1\n"
                f"sentinel monitor {self.MASTER} 127.0.0.1 {self.master.port} 2\n"
                f"sentinel down-after-milliseconds {self.MASTER} 1000\n"
                f"sentinel failover-timeout {self.MASTER} 3000\n"
                f"sentinel parallel-syncs {self.MASTER} 1\n"
            )
            self._redis_server(str(config), "--sentinel")
            wait_for_port(port)
        return self

    def _wait_until_replicating(self, timeout: float = 30) -> None:
        """Until the replica has synced with the master and follows it: a replica whose port is open may still be
        connecting (and a write the master then WAITs on would have no replica to acknowledge it)."""
        import redis

        replica = redis.Redis(port=self.replica_port, decode_responses=True, socket_timeout=2)
        deadline = time.monotonic() + timeout
        while True:
            # (redis-py's types for INFO differ between its versions; it is a dict.)
            replication: Any = replica.info("replication")
            if replication.get("master_link_status") == "up":
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the replica did not sync with the master within {timeout:g} s")
            time.sleep(0.05)
        replica.close()

    def master_port(self) -> int:
        """The port of the master the sentinels name now."""
        import redis

        sentinel = redis.Redis(port=self.sentinel_ports[0], decode_responses=True, socket_timeout=2)
        address = sentinel.execute_command("SENTINEL", "get-master-addr-by-name", self.MASTER)  # type: ignore[no-untyped-call]
        return int(address[1])

    def kill_master(self) -> None:
        self.master.stop()

    def stop(self) -> None:
        self.master.stop()
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> SentinelCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_for_port(port: int, timeout: float = 10, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


#: A page script (Playwright's ``add_init_script``): every RTCPeerConnection of the page relays only
#: (``iceTransportPolicy: "relay"``), whatever it is configured with, as on a network where only TURN gets through.
RELAY_ONLY_SCRIPT = """(() => {
  const Native = window.RTCPeerConnection;
  class RelayOnly extends Native {
    constructor(config = {}) { super({ ...config, iceTransportPolicy: "relay" }); }
    setConfiguration(config = {}) { super.setConfiguration({ ...config, iceTransportPolicy: "relay" }); }
  }
  window.RTCPeerConnection = RelayOnly;
})();"""


#: A page script (``page.evaluate(WATCH_SCRIPT, peer_id)``) of a demo call page, mesh or SFU: every 100 ms it counts
#: what arrives from that peer, chat messages (the page sends one every 200 ms) and decoded video frames, and keeps
#: the longest time either count stood still (``window.watch.stalls``), its ICE restarts and who left.
WATCH_SCRIPT = """(peer) => {
  window.watch = { messages: 0, frames: 0, stalls: { messages: 0, frames: 0 }, last: {}, restarts: 0, left: [] };
  const callbacks = window.call.options.callbacks ?? {};
  window.call.setOptions({ ...window.call.options, callbacks: { ...callbacks,
    onDataChannelMessage: (from, label, data) => { if (label === 'chat') window.watch.messages += 1;
                                                    callbacks.onDataChannelMessage?.(from, label, data); },
    onIceRestart: (id) => { window.watch.restarts += 1; callbacks.onIceRestart?.(id); },
    onPeerLeft: (id, reason) => { window.watch.left.push(id); callbacks.onPeerLeft?.(id, reason); },
  } });
  const since = { messages: performance.now(), frames: performance.now() };
  const seen = { messages: 0, frames: 0 };
  window.watchTimer = setInterval(async () => {
    // In an SFU room the peer's video is one of the subscribing connection's streams.
    const sfu = window.call.sfu;
    const stats = await (sfu ? sfu.subscriber : window.call.links.get(peer).pc).getStats();
    for (const r of stats.values()) {
      if (r.type === 'inbound-rtp' && r.kind === 'video' && (!sfu || sfu.peerOfMid.get(r.mid) === peer)) {
        window.watch.frames = r.framesDecoded;
      }
    }
    const now = performance.now();
    for (const key of ['messages', 'frames']) {
      if (window.watch[key] !== seen[key]) { seen[key] = window.watch[key]; since[key] = now; }
      // Ignored until the first arrival, and at the end (the sender stops first).
      if (seen[key] > 0 && !window.stopping) {
        window.watch.stalls[key] = Math.max(window.watch.stalls[key], now - since[key]);
      }
    }
  }, 100);
  window.sent = 0;
  window.sender = setInterval(() => { if (window.call.sendStringTo(peer, 'chat', 'tick')) window.sent += 1; }, 200);
}"""


def wait_for_async(page: Page, predicate: str, arg: Any = None, timeout: float = 30.0) -> Any:
    """Wait until the async JavaScript function ``predicate`` (one that awaits getStats(), say) resolves to a truthy
    value for ``arg``, and return that value. Playwright's ``wait_for_function`` takes the Promise an async function
    returns for a truthy value at once, so it cannot wait on one (tests/test_code_shape.py refuses that use in the
    tests and the benchmarks)."""
    script = f"""async (arg) => {{
      const predicate = {predicate};
      const deadline = performance.now() + {timeout * 1000};
      let value = await predicate(arg);
      while (!value && performance.now() < deadline) {{
        await new Promise((resolve) => setTimeout(resolve, 50));
        value = await predicate(arg);
      }}
      return {{ value, met: !!value }};
    }}"""
    outcome = page.evaluate(script, arg)
    assert outcome["met"], f"not met within {timeout} s (last: {outcome['value']!r}): {predicate} for {arg!r}"
    return outcome["value"]


class ProcessLog:
    """What a server process writes (stdout and stderr), kept line by line as it comes, to read or wait on."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._lines: list[str] = []
        self._changed = threading.Condition()

    def follow(self, process: subprocess.Popen[str]) -> None:
        threading.Thread(target=self._read, args=(process,), daemon=True).start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            with self._changed:
                self._lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    def text(self) -> str:
        with self._changed:
            return "\n".join(self._lines)

    def wait_for(self, *texts: str, timeout: float = 10) -> str:
        """Wait until one line holds every one of ``texts``; that line."""

        def found() -> str | None:
            return next((line for line in self._lines if all(text in line for text in texts)), None)

        with self._changed:
            if not self._changed.wait_for(lambda: found() is not None, timeout):
                recent = "\n".join(self._lines[-50:])
                raise AssertionError(f"{self.name} never logged a line with {texts!r}:\n{recent}")
            line = found()
            assert line is not None
            return line


def host_address() -> str:
    """This machine's first IPv4 address other than loopback. Janus gathers its ICE candidates there (libnice leaves
    loopback out), so a TURN server that relays to Janus, as one in production relays to Janus's public address,
    listens and relays there too."""
    listing = subprocess.run(
        ["ip", "-4", "-o", "address", "show", "scope", "global"], capture_output=True, text=True, check=True
    ).stdout
    for line in listing.splitlines():
        fields = line.split()
        if "inet" in fields:
            return fields[fields.index("inet") + 1].split("/")[0]
    raise RuntimeError("This machine has no IPv4 address but loopback: Janus would have no ICE candidate")


class TurnServer:
    """coturn's ``turnserver`` of the test's own on loopback, checking TURN REST credentials (``use-auth-secret``)
    as the server mints them; its log is kept (``log()``).

    ``--allow-loopback-peers`` lets it relay to 127.0.0.1, which a test on one machine needs and a production
    server must never allow (docs/deployment.md). ``udp=False`` turns its UDP listener off, as a network that
    blocks UDP would look to the client; ``tls=True`` adds a TLS listener with a certificate made for the test.
    ``lifetime`` sets the permission, channel and longest allocation lifetimes (seconds), so that the refreshes
    a long call needs happen within a test."""

    REALM = "rtc.test"

    def __init__(
        self,
        secret: str,
        *,
        udp: bool = True,
        tls: bool = False,
        lifetime: int | None = None,
        address: str = "127.0.0.1",
    ) -> None:
        self.secret = secret
        #: Where it listens and relays from (another than loopback for hosts of a SplitNetwork).
        self.address = address
        self.port = free_port()
        self.tls_port = free_port() if tls else None
        self.udp = udp
        self.lifetime = lifetime
        self.directory = Path(tempfile.mkdtemp(prefix="coturn-"))
        self.process: subprocess.Popen[str] | None = None
        self._log = ProcessLog("coturn")

    def urls(self, *transports: str) -> list[str]:
        """TURN URLs of this server: ``udp``, ``tcp`` and ``tls`` (a ``turns:`` URL)."""
        urls = []
        for transport in transports or ("udp", "tcp"):
            if transport == "tls":
                assert self.tls_port is not None, "started without tls=True"
                urls.append(f"turns:{self.address}:{self.tls_port}?transport=tcp")
            else:
                urls.append(f"turn:{self.address}:{self.port}?transport={transport}")
        return urls

    def _certificate(self) -> tuple[Path, Path]:
        cert, key = self.directory / "cert.pem", self.directory / "key.pem"
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-days",
                "1",
                "-subj",
                f"/CN={self.address}",
                "-addext",
                f"subjectAltName=IP:{self.address}",
                "-keyout",
                str(key),
                "-out",
                str(cert),
            ],
            check=True,
            capture_output=True,
        )
        return cert, key

    def start(self) -> TurnServer:
        relay_base = 40000 + (self.port % 200) * 100
        args = [
            "turnserver",
            "-n",
            "--no-cli",
            "--log-file=stdout",
            "--simple-log",
            "--verbose",
            "--fingerprint",
            f"--listening-ip={self.address}",
            f"--relay-ip={self.address}",
            f"--listening-port={self.port}",
            f"--min-port={relay_base}",
            f"--max-port={relay_base + 99}",
            "--use-auth-secret",
            f"--static-auth-secret={self.secret}",
            f"--realm={self.REALM}",
            "--allow-loopback-peers",
            "--no-multicast-peers",
            "--no-dtls",
            f"--pidfile={self.directory / 'turnserver.pid'}",
            f"--userdb={self.directory / 'turndb'}",
        ]
        if not self.udp:
            args.append("--no-udp")
        if self.tls_port is not None:
            cert, key = self._certificate()
            args += [f"--tls-listening-port={self.tls_port}", f"--cert={cert}", f"--pkey={key}"]
        else:
            args.append("--no-tls")
        if self.lifetime is not None:
            args += [
                f"--permission-lifetime={self.lifetime}",
                f"--channel-lifetime={self.lifetime}",
                f"--max-allocate-lifetime={self.lifetime}",
            ]
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self._log.follow(self.process)
        wait_for_port(self.port, host=self.address)
        if self.tls_port is not None:
            wait_for_port(self.tls_port, host=self.address)
        return self

    def log(self) -> str:
        return self._log.text()

    def wait_for_log(self, *texts: str, timeout: float = 10) -> str:
        """Wait until one line of coturn's log holds every one of ``texts``; that line."""
        return self._log.wait_for(*texts, timeout=timeout)

    def stop(self) -> None:
        terminate(self.process, grace=5)

    def __enter__(self) -> TurnServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


class JanusProcess:
    """A Janus Gateway of the test's own: the configuration ``signaling.sfu.janus_config`` writes (only the VideoRoom
    and the WebSocket API, on loopback, with an API secret and an admin key of its own), on free ports; its log is
    kept (``log()``). ``restart()`` stops it and starts it again on the same ports (a Janus that died and came
    back)."""

    def __init__(
        self,
        *,
        reclaim_timeout: int = 30,
        events_url: str | None = None,
        api_secret: str | None = None,
        admin_key: str | None = None,
        admin_api: bool = False,
    ) -> None:
        from signaling.sfu.janus_config import JanusConfig

        # Nodes of one site share the API secret and the admin key: pass the first node's to the others.
        self.api_secret = api_secret or "api-" + os.urandom(12).hex()
        self.admin_key = admin_key or "admin-" + os.urandom(12).hex()
        self.events_secret = "events-" + os.urandom(12).hex()
        self.admin_secret = "janus-admin-" + os.urandom(12).hex()
        self.port = free_port()
        #: Janus's Admin API (``admin_api``), for a look at the node's sessions (``sessions()``).
        self.admin_port = free_port() if admin_api else None
        rtp_base = 21000 + (self.port % 150) * 120
        self.config = JanusConfig(
            api_secret=self.api_secret,
            admin_key=self.admin_key,
            api_port=self.port,
            rtp_ports=(rtp_base, rtp_base + 119),
            media_address="127.0.0.1",
            reclaim_timeout=reclaim_timeout,
            events_url=events_url,
            events_secret=self.events_secret,
            admin_port=self.admin_port,
            admin_secret=self.admin_secret,
        )
        self.directory = Path(tempfile.mkdtemp(prefix="janus-"))
        self.process: subprocess.Popen[str] | None = None
        self._log = ProcessLog("Janus")

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self) -> JanusProcess:
        self.config.write(self.directory)
        self.process = subprocess.Popen(
            ["janus", "-F", str(self.directory), "--disable-colors"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._log.follow(self.process)
        try:
            wait_for_port(self.port)
        except Exception:
            self.stop()
            raise RuntimeError(f"Janus did not start:\n{self.log()[-3000:]}") from None
        return self

    def log(self) -> str:
        return self._log.text()

    def sessions(self) -> list[int]:
        """The ids of the sessions Janus holds now (its Admin API's ``list_sessions``; ``admin_api`` only)."""
        import websockets.sync.client

        assert self.admin_port is not None, "JanusProcess(admin_api=True) has the Admin API"
        url = f"ws://127.0.0.1:{self.admin_port}"
        with websockets.sync.client.connect(url, subprotocols=[websockets.Subprotocol("janus-admin-protocol")]) as ws:
            ws.send(json.dumps({"janus": "list_sessions", "transaction": "t", "admin_secret": self.admin_secret}))
            answer = json.loads(ws.recv(timeout=10))
        assert answer.get("janus") == "success", answer
        return [int(session) for session in answer["sessions"]]

    def kill(self) -> None:
        """Janus dies at once (SIGKILL): no session or room is wound down."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def stop(self) -> None:
        terminate(self.process, grace=5)

    def __enter__(self) -> JanusProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


class SplitNetwork:
    """Two hosts of a test's own, network namespaces ``a`` and ``b``, each joined to this machine by a veth pair:
    both reach ``host_address`` (this machine: its daphne, its coturn, which listen there) and neither can send to
    the other, as two networks behind firewalls that let only the TURN server's traffic through. ``lan=True`` joins
    them directly too (a direct path), which ``cut_lan()`` then drops mid-call, as a firewall or a network change
    would. Chromium runs on a host through ``chromium(host)``, a wrapper for Playwright's ``executable_path``.
    Needs root (``ip netns``); ``stop()`` deletes the namespaces, and their links with them."""

    def __init__(self, lan: bool = False) -> None:
        tag = os.urandom(3).hex()
        self.namespaces = {"a": f"rtc{tag}a", "b": f"rtc{tag}b"}
        self.links = {"a": f"rtc{tag}ha", "b": f"rtc{tag}hb"}
        subnet = 100 + int(tag, 16) % 150  # 10.<subnet>.0.0/16: one a run, far from this machine's own
        self.host_address = f"10.{subnet}.1.1"
        self.addresses = {"a": f"10.{subnet}.1.2", "b": f"10.{subnet}.2.2"}
        self.lan_addresses = {"a": f"10.{subnet}.3.1", "b": f"10.{subnet}.3.2"} if lan else None
        self.subnet = subnet
        self.directory = Path(tempfile.mkdtemp(prefix="split-network-"))

    @staticmethod
    def ip(*args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True)

    def start(self) -> SplitNetwork:
        subnet = self.subnet
        for host, number in (("a", 1), ("b", 2)):
            namespace, link = self.namespaces[host], self.links[host]
            self.ip("netns", "add", namespace)
            self.ip("link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", namespace)
            self.ip("addr", "add", f"10.{subnet}.{number}.1/24", "dev", link)
            self.ip("link", "set", link, "up")
            self.ip("-n", namespace, "addr", "add", f"{self.addresses[host]}/24", "dev", "eth0")
            self.ip("-n", namespace, "link", "set", "eth0", "up")
            self.ip("-n", namespace, "link", "set", "lo", "up")
        # b reaches this machine's host_address (on a's link) through its own; nothing routes a to b or b to a.
        self.ip("-n", self.namespaces["b"], "route", "add", f"{self.host_address}/32", "via", f"10.{subnet}.2.1")
        if self.lan_addresses is not None:
            self.ip(
                "link",
                "add",
                "lan0",
                "netns",
                self.namespaces["a"],
                "type",
                "veth",
                "peer",
                "name",
                "lan0",
                "netns",
                self.namespaces["b"],
            )
            for host in ("a", "b"):
                self.ip("-n", self.namespaces[host], "addr", "add", f"{self.lan_addresses[host]}/24", "dev", "lan0")
                self.ip("-n", self.namespaces[host], "link", "set", "lan0", "up")
        return self

    def cut_lan(self) -> None:
        """Drop every packet between the hosts' direct addresses from now on (their links stay up)."""
        assert self.lan_addresses is not None, "started without lan=True"
        for host, other in (("a", "b"), ("b", "a")):
            self.ip("-n", self.namespaces[host], "route", "add", "blackhole", f"{self.lan_addresses[other]}/32")

    def command(self, host: str, *args: str) -> list[str]:
        """``args`` as a command that runs on ``host`` (``"a"`` or ``"b"``), for ``subprocess``."""
        return ["ip", "netns", "exec", self.namespaces[host], *args]

    def chromium(self, host: str) -> str:
        """An executable that runs Debian's Chromium on ``host`` (``"a"`` or ``"b"``)."""
        wrapper = self.directory / f"chromium-{host}"
        wrapper.write_text(f'#!/bin/sh\nexec ip netns exec {self.namespaces[host]} /usr/bin/chromium "$@"\n')
        wrapper.chmod(0o755)
        return str(wrapper)

    def stop(self) -> None:
        for namespace in self.namespaces.values():
            subprocess.run(["ip", "netns", "delete", namespace], capture_output=True)
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> SplitNetwork:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()


class NginxProcess:
    """nginx running ``deploy/nginx.conf`` on a free port, in front of the given upstream ports."""

    def __init__(self, upstream_ports: list[int]) -> None:
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="nginx-"))
        shipped = (ROOT / "deploy" / "nginx.conf").read_text()
        upstream = "\n".join(f"        server 127.0.0.1:{port} max_fails=0;" for port in upstream_ports)
        config, replaced = re.subn(r"(?m)^\s*server 127\.0\.0\.1:800\d max_fails=0;\n", "", shipped)
        assert replaced == 3, "deploy/nginx.conf no longer has the three upstream lines this test replaces"
        config = config.replace("hash $rtc_affinity consistent;", "hash $rtc_affinity consistent;\n" + upstream)
        config = config.replace("listen 80;", f"listen 127.0.0.1:{self.port};")
        temp = self.directory
        config = config.replace(
            "http {",
            "http {\n    access_log off;\n"
            + "".join(
                f"    {kind}_temp_path {temp}/{kind};\n"
                for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
            ),
        )
        (self.directory / "nginx.conf").write_text(config)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self) -> NginxProcess:
        self.process = subprocess.Popen(
            [
                "nginx",
                "-p",
                str(self.directory),
                "-c",
                str(self.directory / "nginx.conf"),
                "-e",
                str(self.directory / "error.log"),
                "-g",
                f"daemon off; pid {self.directory}/nginx.pid;" + (" user root;" if os.geteuid() == 0 else ""),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        wait_for_port(self.port)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def __enter__(self) -> NginxProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


POSTGRES_ADMIN_URL = os.environ.get("RTC_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


class PostgresDatabase:
    """A fresh database on the machine's PostgreSQL, dropped afterwards."""

    def __init__(self) -> None:
        self.name = f"rtc_test_{os.getpid()}_{int(time.time() * 1000) % 10**8}"
        self.url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{self.name}"

    def _admin(self, statement: str) -> None:
        import psycopg

        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as connection:
            connection.execute(statement)

    def __enter__(self) -> PostgresDatabase:
        self._admin(f'CREATE DATABASE "{self.name}"')
        return self

    def __exit__(self, *exc: object) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


class TcpProxy:
    """A TCP relay in front of a server, whose connections the test can cut as a broken network path would (RST,
    no WebSocket close frame), and which can refuse new connections for a while. Runs its own event loop thread."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.accepting = True
        self.writers: set[asyncio.StreamWriter] = set()
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.server = self._run(asyncio.start_server(self._relay, "127.0.0.1", 0))
        self.port = int(self.server.sockets[0].getsockname()[1])

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(10)

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.accepting:
            self._reset(writer)
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            self._reset(writer)
            return
        self.writers.update((writer, upstream_writer))
        await asyncio.gather(self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer))
        self.writers.difference_update((writer, upstream_writer))

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
        except (OSError, RuntimeError):
            pass

    @staticmethod
    def _reset(writer: asyncio.StreamWriter) -> None:
        # Linger 0: closing sends RST, as a broken network path shows itself to both ends.
        with contextlib.suppress(OSError):
            writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    async def _cut(self) -> int:
        writers, self.writers = self.writers, set()
        for writer in writers:
            self._reset(writer)
        return len(writers)

    def cut(self) -> int:
        """Reset every connection open now; returns how many sockets were reset."""
        return self._run(self._cut())

    def refuse(self) -> None:
        """Reset new connections as soon as they arrive, until allow()."""
        self.accepting = False

    def allow(self) -> None:
        self.accepting = True

    async def _close(self) -> None:
        self.server.close()
        await self._cut()

    def close(self) -> None:
        self._run(self._close())
        self.loop.call_soon_threadsafe(self.loop.stop)
