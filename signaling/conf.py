"""Project-wide signaling settings: the ``SIGNALING`` dict, read on access, with the package's defaults.

Set only what you change::

    SIGNALING = {"MAX_PEERS": 4, "ALLOWED_ORIGINS": ["https://app.example.com"]}

Values are read each time they are used (tests may override them), except that a connection reads its limits
once, when it opens. ``signaling.checks`` reports unknown keys and values of the wrong type.
"""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Any

from signaling.settings_dict import SettingsDict

DEFAULTS: dict[str, Any] = {
    # Peers a room admits unless the consumer's ``max_peers`` or a stored room says otherwise.
    "MAX_PEERS": 2,
    # Whether a join may name a room that no ROOM_RESOLVER knows (it is created on first join).
    "ALLOW_AD_HOC_ROOMS": True,
    # Largest text frame accepted from a client, in bytes of UTF-8.
    "MAX_MESSAGE_BYTES": 64 * 1024,
    # Per-connection token bucket: sustained messages per second and the burst allowed above it.
    "RATE_LIMIT_PER_SECOND": 100.0,
    "RATE_LIMIT_BURST": 200,
    # Rate-limited messages a connection may send (regained at one per second) before it is closed with 4008.
    "RATE_LIMIT_TOLERANCE": 50,
    # Bytes of frames a client may leave unread in its socket's send buffer (measured under daphne); past it the
    # server closes the socket with 4013 and the peer leaves its room.
    "OUTBOUND_BUFFER_BYTES": 1024 * 1024,
    # Frames kept for a peer whose socket dropped, while it may resume, in count and in bytes; past either the
    # parked peer leaves at once (a resume could not be complete).
    "PARKED_BUFFER_FRAMES": 256,
    "PARKED_BUFFER_BYTES": 256 * 1024,
    # Bytes of notices and relayed frames waiting for one other worker (Redis registry) while Redis is slow or gone.
    "CROSS_WORKER_BUFFER_BYTES": 16 * 1024 * 1024,
    # Sockets one worker process holds at most; past it new sockets are closed with 1013 (try again later).
    "MAX_SOCKETS": 10_000,
    # Sockets one client address may hold on one worker; past it new sockets are closed with 4012.
    "MAX_SOCKETS_PER_ADDRESS": 64,
    # Joins per second (sustained, and the burst above it) one client address may make on one worker; past it the
    # join gets `error` rate-limited.
    "JOIN_RATE_PER_ADDRESS": 10.0,
    "JOIN_BURST_PER_ADDRESS": 30,
    # Ad-hoc rooms one client address may bring to life per second (and the burst above it), on one worker.
    "ROOM_CREATION_RATE_PER_ADDRESS": 1.0,
    "ROOM_CREATION_BURST_PER_ADDRESS": 10,
    # Client addresses (or networks, "10.0.0.0/8") that may read /metrics without logging in; staff always may.
    "METRICS_ALLOWED_ADDRESSES": ["127.0.0.1", "::1"],
    # Origins allowed besides those whose host is in ALLOWED_HOSTS: "https://app.example.com", or "*" for any.
    "ALLOWED_ORIGINS": [],
    # Redis shared by every worker, e.g. "redis://127.0.0.1:6379/0". Setting it moves rooms to Redis.
    "REDIS_URL": None,
    # Prefix of every Redis key and channel the registry uses, so several sites can share one Redis.
    "REDIS_PREFIX": "signaling",
    # Seconds after which a worker that stopped answering counts as dead: its peers leave with reason "timeout".
    "WORKER_TIMEOUT": 5.0,
    # Seconds a room token (signaling.tokens, issued by the REST API) opens its room after it was issued.
    "ROOM_TOKEN_TTL": 300,
    # Seconds a peer whose socket dropped keeps its place, for a `join` with its `resume` token (0: leave at once).
    "RESUME_GRACE": 10.0,
    # Seconds a worker takes at most, on SIGTERM, to park its peers, close their sockets (1012) and stop.
    "DRAIN_SECONDS": 5.0,
    # RTCIceServer dicts sent to every client in `joined.iceServers`, e.g. [{"urls": "stun:stun.example.com:3478"}].
    # None sends nothing (clients use their own defaults); [] tells clients to use none (host candidates only).
    "ICE_SERVERS": None,
    # TURN servers that check coturn's `use-auth-secret` (TURN REST API): each client gets its own credentials,
    # valid TURN_CREDENTIAL_TTL seconds, for the URLs in TURN_URLS ("turn:turn.example.com:3478?transport=udp").
    "TURN_SECRET": None,
    "TURN_URLS": [],
    "TURN_CREDENTIAL_TTL": 3600,
    # Who may run a connection test over the endpoint (`connection-test`, `connection-report`): "anyone",
    # "authenticated" (logged-in users), or "off". A test gets TURN credentials of its own, for two minutes.
    "CONNECTION_TEST": "anyone",
    # Dotted path of the RoomRegistry class; None picks Redis when REDIS_URL is set, else the in-process one.
    "REGISTRY": None,
    # Dotted path of the RoomResolver class that looks up stored rooms (capacity, open/closed).
    "ROOM_RESOLVER": "signaling.policy.AdHocRoomResolver",
    # Seats a room has, beyond its capacity, for peers with a role (recorder, agent: a staff-minted room token says
    # so); such peers never take a participant's seat. 0: none can join.
    "EXTRA_SEATS": 2,
    # This site's signaling endpoint as the site's own Python peers reach it (`manage.py echo_peer`, the recorder):
    # a ws:// or wss:// URL (http:// and https:// are read as ws:// and wss://).
    "PEER_SIGNAL_URL": "ws://127.0.0.1:8000/api/call/signal",
    # Largest `metadata` a peer may give itself (join.metadata, update.metadata), in bytes of compact JSON.
    "MAX_METADATA_BYTES": 1024,
    # Dotted path of a callable(user) -> dict: the metadata fields the server sets for a logged-in user's peers,
    # over whatever the client sends (so names cannot be spoofed where users log in). None: the client's own.
    "USER_METADATA": "signaling.metadata.user_metadata",
}


class SignalingSettings(SettingsDict):
    """Typed accessors for ``settings.SIGNALING``; each falls back to its entry in ``DEFAULTS``."""

    setting = "SIGNALING"
    defaults = DEFAULTS

    @property
    def EXTRA_SEATS(self) -> int:
        return int(self._get("EXTRA_SEATS"))

    @property
    def PEER_SIGNAL_URL(self) -> str:
        return str(self._get("PEER_SIGNAL_URL"))

    @property
    def MAX_METADATA_BYTES(self) -> int:
        return int(self._get("MAX_METADATA_BYTES"))

    @property
    def USER_METADATA(self) -> str | None:
        value = self._get("USER_METADATA")
        return str(value) if value else None

    @property
    def MAX_PEERS(self) -> int:
        return int(self._get("MAX_PEERS"))

    @property
    def ALLOW_AD_HOC_ROOMS(self) -> bool:
        return bool(self._get("ALLOW_AD_HOC_ROOMS"))

    @property
    def MAX_MESSAGE_BYTES(self) -> int:
        return int(self._get("MAX_MESSAGE_BYTES"))

    @property
    def RATE_LIMIT_PER_SECOND(self) -> float:
        return float(self._get("RATE_LIMIT_PER_SECOND"))

    @property
    def RATE_LIMIT_BURST(self) -> int:
        return int(self._get("RATE_LIMIT_BURST"))

    @property
    def RATE_LIMIT_TOLERANCE(self) -> int:
        return int(self._get("RATE_LIMIT_TOLERANCE"))

    @property
    def OUTBOUND_BUFFER_BYTES(self) -> int:
        return int(self._get("OUTBOUND_BUFFER_BYTES"))

    @property
    def PARKED_BUFFER_FRAMES(self) -> int:
        return int(self._get("PARKED_BUFFER_FRAMES"))

    @property
    def PARKED_BUFFER_BYTES(self) -> int:
        return int(self._get("PARKED_BUFFER_BYTES"))

    @property
    def CROSS_WORKER_BUFFER_BYTES(self) -> int:
        return int(self._get("CROSS_WORKER_BUFFER_BYTES"))

    @property
    def MAX_SOCKETS(self) -> int:
        return int(self._get("MAX_SOCKETS"))

    @property
    def MAX_SOCKETS_PER_ADDRESS(self) -> int:
        return int(self._get("MAX_SOCKETS_PER_ADDRESS"))

    @property
    def JOIN_RATE_PER_ADDRESS(self) -> float:
        return float(self._get("JOIN_RATE_PER_ADDRESS"))

    @property
    def JOIN_BURST_PER_ADDRESS(self) -> int:
        return int(self._get("JOIN_BURST_PER_ADDRESS"))

    @property
    def ROOM_CREATION_RATE_PER_ADDRESS(self) -> float:
        return float(self._get("ROOM_CREATION_RATE_PER_ADDRESS"))

    @property
    def ROOM_CREATION_BURST_PER_ADDRESS(self) -> int:
        return int(self._get("ROOM_CREATION_BURST_PER_ADDRESS"))

    @property
    def METRICS_ALLOWED_ADDRESSES(self) -> list[IPv4Network | IPv6Network]:
        return [ip_network(str(value), strict=False) for value in self._get("METRICS_ALLOWED_ADDRESSES")]

    @property
    def ALLOWED_ORIGINS(self) -> Sequence[str]:
        return list(self._get("ALLOWED_ORIGINS"))

    @property
    def REDIS_URL(self) -> str | None:
        value = self._get("REDIS_URL")
        return str(value) if value else None

    @property
    def REDIS_PREFIX(self) -> str:
        return str(self._get("REDIS_PREFIX"))

    @property
    def WORKER_TIMEOUT(self) -> float:
        return float(self._get("WORKER_TIMEOUT"))

    @property
    def ROOM_TOKEN_TTL(self) -> int:
        return int(self._get("ROOM_TOKEN_TTL"))

    @property
    def RESUME_GRACE(self) -> float:
        return float(self._get("RESUME_GRACE"))

    @property
    def DRAIN_SECONDS(self) -> float:
        return float(self._get("DRAIN_SECONDS"))

    @property
    def ICE_SERVERS(self) -> list[dict[str, Any]] | None:
        servers = self._get("ICE_SERVERS")
        return None if servers is None else [dict(server) for server in servers]

    @property
    def TURN_SECRET(self) -> str | None:
        value = self._get("TURN_SECRET")
        return str(value) if value else None

    @property
    def TURN_URLS(self) -> list[str]:
        return [str(url) for url in self._get("TURN_URLS")]

    @property
    def TURN_CREDENTIAL_TTL(self) -> int:
        return int(self._get("TURN_CREDENTIAL_TTL"))

    @property
    def CONNECTION_TEST(self) -> str:
        return str(self._get("CONNECTION_TEST"))

    @property
    def REGISTRY(self) -> str | None:
        value = self._get("REGISTRY")
        return str(value) if value else None

    @property
    def ROOM_RESOLVER(self) -> str:
        return str(self._get("ROOM_RESOLVER"))


conf = SignalingSettings()
