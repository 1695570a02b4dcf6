"""Project-wide signaling settings: the ``SIGNALING`` dict, read on access, with the package's defaults.

Set only what you change::

    SIGNALING = {"MAX_PEERS": 4, "ALLOWED_ORIGINS": ["https://app.example.com"]}

Values are read each time they are used (tests may override them), except that a connection reads its limits
once, when it opens. Each key is described once, below: its default, what values it takes (which both reads it
and checks it: ``manage.py check`` reports unknown keys and bad values), and a comment; ``signaling.checks`` adds
the checks of settings taken together.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Any

from django.utils.module_loading import import_string

from signaling.settings_dict import (
    Boolean,
    Choice,
    Kind,
    OptionalText,
    PositiveInteger,
    PositiveNumber,
    Problem,
    Seconds,
    Setting,
    SettingsDict,
    Text,
    Url,
    WholeNumber,
)

#: Who may run a connection test (``CONNECTION_TEST``).
CONNECTION_TEST_ACCESS = ("anyone", "authenticated", "off")
ICE_SCHEMES = ("stun:", "stuns:", "turn:", "turns:")
POSITIVE_INTEGER = PositiveInteger("E003")
POSITIVE_NUMBER = PositiveNumber("E013")


class OptionalDottedPath(Kind[str | None]):
    """The dotted path of a class (a subclass of ``base``, imported when checked) or, with no base, of a callable;
    None for the package's choice."""

    def __init__(self, code: str, base: str | None) -> None:
        super().__init__(code)
        self.base = base

    def read(self, value: Any) -> str | None:
        return str(value) if value else None

    def problem(self, value: Any) -> Problem | None:
        if value is None:
            return None
        try:
            found = import_string(value)
        except ImportError as error:
            return Problem(f"{value!r} cannot be imported: {error}")
        if self.base is None:
            return None if callable(found) else Problem(f"{value!r} is not callable")
        base = import_string(self.base)
        if isinstance(found, type) and issubclass(found, base):
            return None
        return Problem(f"{value!r} is not a subclass of {base.__qualname__}")


class DottedPath(Kind[str]):
    """``OptionalDottedPath`` without None."""

    def __init__(self, code: str, base: str) -> None:
        super().__init__(code)
        self.optional = OptionalDottedPath(code, base)

    def read(self, value: Any) -> str:
        return str(value)

    def problem(self, value: Any) -> Problem | None:
        return self.optional.problem(value) if value is not None else Problem("must be a dotted path, not None")


class OptionalUrl(Kind[str | None]):
    """None, or a URL with one of ``schemes``."""

    def __init__(self, code: str, schemes: Sequence[str]) -> None:
        super().__init__(code)
        self.url = Url(code, schemes)

    def read(self, value: Any) -> str | None:
        return str(value) if value else None

    def problem(self, value: Any) -> Problem | None:
        return None if value is None else self.url.problem(value)


class SfuNodes(Kind[Mapping[str, Mapping[str, Any]]]):
    """The Janus nodes of SFU rooms: ``{name: {"URL": "ws://...", "CAPACITY": peers}}`` (``CAPACITY`` optional)."""

    NAME = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")
    KEYS = frozenset({"URL", "CAPACITY"})

    def read(self, value: Any) -> Mapping[str, Mapping[str, Any]]:
        return dict(value or {})

    def problem(self, value: Any) -> Problem | None:
        if not value:
            return None
        if not isinstance(value, Mapping):
            return Problem("must be a dict of node names to {'URL': ..., 'CAPACITY': ...}")
        url = Url(self.code or "E023", ("ws://", "wss://"))
        for name, node in value.items():
            if not isinstance(name, str) or not self.NAME.match(name):
                return Problem(f"has a node name that is not 1 to 40 letters, digits, '.', '_' or '-': {name!r}")
            if not isinstance(node, Mapping) or "URL" not in node or set(node) - self.KEYS:
                return Problem(f"node {name!r} must be a dict with 'URL' and optionally 'CAPACITY', not {node!r}")
            bad_url = url.problem(node["URL"])
            if bad_url is not None:
                return Problem(f"node {name!r}: 'URL' {bad_url.text}")
            capacity = node.get("CAPACITY")
            if capacity is not None and (isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1):
                return Problem(
                    f"node {name!r}: 'CAPACITY' must be a positive number of peers or None, not {capacity!r}"
                )
        return None


class Origins(Kind[Sequence[str]]):
    def read(self, value: Any) -> Sequence[str]:
        return list(value)

    def problem(self, value: Any) -> Problem | None:
        from signaling.origin import normalize_origin

        if isinstance(value, str) or not isinstance(value, Sequence):
            return Problem("must be a list of origins")
        bad = [o for o in value if not isinstance(o, str) or (o != "*" and normalize_origin(o) is None)]
        if bad:
            return Problem(
                f"has entries that are not origins: {bad!r}",
                'Write each as "https://host" or "https://host:port", or "*" for any origin.',
            )
        return None


class IpNetworks(Kind[list[IPv4Network | IPv6Network]]):
    def read(self, value: Any) -> list[IPv4Network | IPv6Network]:
        return [ip_network(str(entry), strict=False) for entry in value]

    def problem(self, value: Any) -> Problem | None:
        refused = Problem(
            f"must be a list of IP addresses or networks, not {value!r}",
            'For example ["127.0.0.1", "::1", "10.0.0.0/8"].',
        )
        if isinstance(value, str) or not isinstance(value, Sequence):
            return refused
        try:
            self.read(value)
        except ValueError:
            return refused
        return None


def ice_urls_ok(urls: Any, schemes: tuple[str, ...]) -> bool:
    """Whether ``urls`` (one URL or a list) is a non-empty list of URLs with one of ``schemes``."""
    if isinstance(urls, str):
        urls = [urls]
    return (
        isinstance(urls, Sequence)
        and bool(urls)
        and all(isinstance(url, str) and url.startswith(schemes) for url in urls)
    )


class IceServers(Kind[list[dict[str, Any]] | None]):
    def read(self, value: Any) -> list[dict[str, Any]] | None:
        return None if value is None else [dict(server) for server in value]

    def problem(self, value: Any) -> Problem | None:
        if value is None or (
            not isinstance(value, str)
            and isinstance(value, Sequence)
            and all(isinstance(server, Mapping) and ice_urls_ok(server.get("urls"), ICE_SCHEMES) for server in value)
        ):
            return None
        return Problem(
            "must be None or a list of RTCIceServer dicts, each with stun:/turn: 'urls'",
            'For example [{"urls": "stun:stun.example.com:3478"}].',
        )


class TurnUrls(Kind[list[str]]):
    def read(self, value: Any) -> list[str]:
        return [str(url) for url in value]

    def problem(self, value: Any) -> Problem | None:
        if not value or ice_urls_ok(value, ("turn:", "turns:")):
            return None
        return Problem("must be a list of turn: or turns: URLs")


class RedisUrl(Kind[str | None]):
    SCHEMES = ("redis://", "rediss://", "unix://", "redis+sentinel://")

    def read(self, value: Any) -> str | None:
        return str(value) if value else None

    def problem(self, value: Any) -> Problem | None:
        if value is None:
            return None
        if not isinstance(value, str) or not value.startswith(self.SCHEMES):
            return Problem(f"must be a redis://, rediss://, unix:// or redis+sentinel:// URL, not {value!r}")
        if value.startswith("redis+sentinel://"):
            from signaling.registry.connection import parse_redis_url

            try:
                parse_redis_url(value)
            except ValueError as error:
                return Problem(f"is not a usable Sentinel URL: {error}")
        return None


class SignalingSettings(SettingsDict):
    """``settings.SIGNALING``: each key with its default and what values it takes; on ``conf``, its typed value."""

    setting = "SIGNALING"
    app = "signaling"

    # Peers a room admits unless the consumer's ``max_peers`` or a stored room says otherwise.
    MAX_PEERS = Setting(2, POSITIVE_INTEGER)
    # Whether a join may name a room that no ROOM_RESOLVER knows (it is created on first join).
    ALLOW_AD_HOC_ROOMS = Setting(True, Boolean("E017"))
    # Largest text frame accepted from a client, in bytes of UTF-8.
    MAX_MESSAGE_BYTES = Setting(64 * 1024, POSITIVE_INTEGER)
    # Per-connection token bucket: sustained messages per second and the burst allowed above it.
    RATE_LIMIT_PER_SECOND = Setting(100.0, POSITIVE_NUMBER)
    RATE_LIMIT_BURST = Setting(200, POSITIVE_INTEGER)
    # Rate-limited messages a connection may send (regained at one per second) before it is closed with 4008.
    RATE_LIMIT_TOLERANCE = Setting(50, POSITIVE_INTEGER)
    # Bytes of frames a client may leave unread in its socket's send buffer (measured under daphne); past it the
    # server closes the socket with 4013 and the peer leaves its room.
    OUTBOUND_BUFFER_BYTES = Setting(1024 * 1024, POSITIVE_INTEGER)
    # Frames kept for a peer whose socket dropped, while it may resume, in count and in bytes; past either the
    # parked peer leaves at once (a resume could not be complete).
    PARKED_BUFFER_FRAMES = Setting(256, POSITIVE_INTEGER)
    PARKED_BUFFER_BYTES = Setting(256 * 1024, POSITIVE_INTEGER)
    # Bytes of notices and relayed frames waiting for one other worker (Redis registry) while Redis is slow or gone.
    CROSS_WORKER_BUFFER_BYTES = Setting(16 * 1024 * 1024, POSITIVE_INTEGER)
    # Seconds a connection has, from its connecting, to send its whole request head (the WebSocket upgrade's
    # included); past it daphne drops it (``signaling.handshake``).
    HANDSHAKE_TIMEOUT = Setting(10.0, POSITIVE_NUMBER)
    # Whether the server that serves the endpoint (daphne, Autobahn) is tuned for many sockets (``signaling.serving``).
    TUNE_SERVER = Setting(True, Boolean("E022"))
    # Sockets one worker process holds at most; past it new sockets are closed with 1013 (try again later).
    MAX_SOCKETS = Setting(10_000, POSITIVE_INTEGER)
    # Sockets one client address may hold on one worker; past it new sockets are closed with 4012.
    MAX_SOCKETS_PER_ADDRESS = Setting(64, POSITIVE_INTEGER)
    # Joins per second (sustained, and the burst above it) one client address may make on one worker; past it the
    # join gets `error` rate-limited.
    JOIN_RATE_PER_ADDRESS = Setting(10.0, POSITIVE_NUMBER)
    JOIN_BURST_PER_ADDRESS = Setting(30, POSITIVE_INTEGER)
    # Ad-hoc rooms one client address may bring to life per second (and the burst above it), on one worker.
    ROOM_CREATION_RATE_PER_ADDRESS = Setting(1.0, POSITIVE_NUMBER)
    ROOM_CREATION_BURST_PER_ADDRESS = Setting(10, POSITIVE_INTEGER)
    # Client addresses (or networks, "10.0.0.0/8") that may read /metrics without logging in; staff always may.
    METRICS_ALLOWED_ADDRESSES = Setting(["127.0.0.1", "::1"], IpNetworks("E009"), security=True)
    # Origins allowed besides those whose host is in ALLOWED_HOSTS: "https://app.example.com", or "*" for any.
    ALLOWED_ORIGINS = Setting([], Origins("E005"), security=True)
    # Redis shared by every worker, e.g. "redis://127.0.0.1:6379/0". Setting it moves rooms to Redis.
    REDIS_URL = Setting(None, RedisUrl("E014"))
    # Prefix of every Redis key and channel the registry uses, so several sites can share one Redis.
    REDIS_PREFIX = Setting("signaling", Text("E016", non_empty=True))
    # Seconds after which a worker that stopped answering counts as dead: its peers leave with reason "timeout".
    WORKER_TIMEOUT = Setting(5.0, POSITIVE_NUMBER)
    # Seconds a room token (signaling.tokens, issued by the REST API) opens its room after it was issued.
    ROOM_TOKEN_TTL = Setting(300, POSITIVE_INTEGER)
    # Seconds a peer whose socket dropped keeps its place, for a `join` with its `resume` token (0: leave at once).
    RESUME_GRACE = Setting(10.0, Seconds("E012"))
    # Seconds a worker takes at most, on SIGTERM, to park its peers, close their sockets (1012) and stop.
    DRAIN_SECONDS = Setting(5.0, POSITIVE_NUMBER)
    # RTCIceServer dicts sent to every client in `joined.iceServers`, e.g. [{"urls": "stun:stun.example.com:3478"}].
    # None sends nothing (clients use their own defaults); [] tells clients to use none (host candidates only).
    ICE_SERVERS = Setting(None, IceServers("E008"))
    # TURN servers that check coturn's `use-auth-secret` (TURN REST API): each client gets its own credentials,
    # valid TURN_CREDENTIAL_TTL seconds, for the URLs in TURN_URLS ("turn:turn.example.com:3478?transport=udp").
    TURN_SECRET = Setting(None, OptionalText(None))
    TURN_URLS = Setting([], TurnUrls("E008"))
    TURN_CREDENTIAL_TTL = Setting(3600, POSITIVE_INTEGER)
    # Who may run a connection test over the endpoint (`connection-test`, `connection-report`): "anyone",
    # "authenticated" (logged-in users), or "off". A test gets TURN credentials of its own, for two minutes.
    CONNECTION_TEST = Setting("anyone", Choice("E018", CONNECTION_TEST_ACCESS))
    # Dotted path of the RoomRegistry class; None picks Redis when REDIS_URL is set, else the in-process one.
    REGISTRY = Setting(None, OptionalDottedPath("E004", "signaling.registry.RoomRegistry"))
    # Dotted path of the RoomResolver class that looks up stored rooms (capacity, open/closed).
    ROOM_RESOLVER = Setting("signaling.policy.AdHocRoomResolver", DottedPath("E004", "signaling.policy.RoomResolver"))
    # Seats a room has, beyond its capacity, for peers with a role (recorder, agent: a staff-minted room token says
    # so); such peers never take a participant's seat. 0: none can join.
    EXTRA_SEATS = Setting(2, WholeNumber("E011"))
    # This site's signaling endpoint as the site's own Python peers reach it (`manage.py echo_peer`, the recorder):
    # a ws:// or wss:// URL (http:// and https:// are read as ws:// and wss://).
    PEER_SIGNAL_URL = Setting(
        "ws://127.0.0.1:8000/api/call/signal", Url("E015", ("ws://", "wss://", "http://", "https://"))
    )
    # Largest `metadata` a peer may give itself (join.metadata, update.metadata), in bytes of compact JSON.
    MAX_METADATA_BYTES = Setting(1024, POSITIVE_INTEGER)
    # Dotted path of a callable(user) -> dict: the metadata fields the server sets for a logged-in user's peers,
    # over whatever the client sends (so names cannot be spoofed where users log in). None: the client's own.
    USER_METADATA = Setting("signaling.metadata.user_metadata", OptionalDottedPath("E004", None))
    # SFU rooms (a stored room's topology "sfu"): the Janus Gateway whose VideoRoom carries their media, as the
    # workers reach its WebSocket API (a private address: browsers never talk to it), e.g. "ws://10.0.0.7:8188".
    # None: no SFU; joins of SFU rooms get `sfu-unavailable`. Its API secret and its VideoRoom's admin key go with
    # it (`manage.py janus_config` writes Janus's configuration with the same values).
    SFU_JANUS_URL = Setting(None, OptionalUrl("E019", ("ws://", "wss://")))
    # Several Janus nodes instead (SFU_JANUS_URL is the one node "default"): {name: {"URL": ..., "CAPACITY": peers}},
    # all with the same API secret and admin key. A new SFU room goes to the least loaded node that is up and not
    # draining (load: the peers of its rooms over its CAPACITY, None: no bound); every worker reads the room's node
    # from the registry. A node that stops answering is marked down for everyone, and its rooms move to another one.
    SFU_NODES = Setting({}, SfuNodes("E023"))
    # Seconds between a worker's health checks of the nodes its peers use (and its look at where their rooms are).
    SFU_HEALTH_INTERVAL = Setting(1.0, POSITIVE_NUMBER)
    # Seconds a node that failed a check stays marked down (no room is placed on it) before it is tried again.
    SFU_DOWN_HOLD = Setting(10.0, POSITIVE_NUMBER)
    # Seconds between two rooms moved off a draining node (`manage.py sfu_drain`, the admin's SFU nodes page).
    SFU_DRAIN_STEP = Setting(2.0, POSITIVE_NUMBER)
    SFU_API_SECRET = Setting(None, OptionalText(None))
    SFU_ADMIN_KEY = Setting(None, OptionalText(None))
    # Peers an SFU room admits at most, whatever its stored capacity says.
    SFU_MAX_PEERS = Setting(50, POSITIVE_INTEGER)
    # The secret Janus's HTTP event handler proves itself with when it posts its events to /sfu/events (as the
    # password of HTTP basic auth, user "janus"; `manage.py janus_config --events-url URL` writes it into Janus's
    # configuration).
    # None: that endpoint answers 404, and Janus's events are not logged.
    SFU_EVENTS_SECRET = Setting(None, OptionalText(None))


conf = SignalingSettings()
#: Every key's default (``SignalingSettings.defaults``).
DEFAULTS = SignalingSettings.defaults
