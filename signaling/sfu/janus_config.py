"""The configuration of a Janus Gateway that serves this project's SFU rooms, as files Janus reads (``janus -F``).

``manage.py janus_config <folder>`` writes them for an operator, and the tests write them for the Janus processes
they start; nobody edits Debian's ``/etc/janus`` by hand. What it sets, and why:

- Only the VideoRoom plugin and the WebSocket transport are loaded (no HTTP API, no Admin API, no other plugin):
  nothing else of Janus can be reached.
- The WebSocket API listens on a private address only (``api_address``, 127.0.0.1 by default), with an access list
  of that network, and every request must carry the API secret: only the signaling workers talk to Janus.
- The VideoRoom's ``admin_key``: rooms are created only with it, so only the workers create rooms (each with its own
  secret and pin, derived per room: ``signaling.sfu.videoroom``).
- Sessions time out when no keepalive comes for ``session_timeout`` seconds, and a session whose transport went away
  (its worker stopped) waits ``reclaim_timeout`` seconds for another worker to claim it: media goes on meanwhile.
- Media ports are ``rtp_ports``; what browsers reach of Janus is these ports (and TURN, when they need it).
- Janus's own events (media up, media lost, slow link, hang-up) go to this site's event endpoint, when one is
  named, through Janus's HTTP event handler, authenticated with a secret of its own.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

#: Where Debian's janus package puts its modules.
DEBIAN_MODULES = Path("/usr/lib/x86_64-linux-gnu/janus")


@dataclass(frozen=True)
class JanusConfig:
    """What this project's Janus needs to know; ``files()`` makes its configuration of it."""

    api_secret: str
    admin_key: str
    api_port: int = 8188
    api_address: str = "127.0.0.1"
    #: Addresses the API accepts requests from (Janus's ``ws_acl``: prefixes, comma-separated).
    api_acl: str = "127."
    rtp_ports: tuple[int, int] = (20000, 40000)
    #: The address Janus gathers ICE candidates on (None: every interface but Janus's ignore list).
    media_address: str | None = None
    #: The public address to announce in candidates, for a Janus behind a 1:1 NAT (cloud machines).
    public_address: str | None = None
    session_timeout: int = 60
    reclaim_timeout: int = 30
    #: A TURN server of Janus's own, ``(host, port, transport, user, password)``, for a Janus behind a firewall.
    turn: tuple[str, int, str, str, str] | None = None
    #: Where Janus posts its events (this site's ``/sfu/events``), and the secret it proves itself with.
    events_url: str | None = None
    events_secret: str | None = None
    #: Janus's Admin API on the WebSocket transport, on ``api_address`` (None: off): for an operator's or a test's
    #: look at the node's sessions (``list_sessions``), with its own secret. The workers never use it.
    admin_port: int | None = None
    admin_secret: str | None = None
    debug_level: int = 3
    modules: Path = DEBIAN_MODULES
    extra_nat: dict[str, str | int | bool] = field(default_factory=dict)

    def files(self, folder: Path) -> dict[str, str]:
        """File name -> contents, for ``janus -F <folder>``."""
        files = {
            "janus.jcfg": self._core(folder),
            "janus.transport.websockets.jcfg": self._websockets(),
            "janus.plugin.videoroom.jcfg": _section(
                "general", {"admin_key": self.admin_key, "lock_rtp_forward": True, "string_ids": True}
            ),
        }
        if self.events_url is not None:
            files["janus.eventhandler.sampleevh.jcfg"] = _section(
                "general",
                {
                    "enabled": True,
                    # What the lifecycle log keeps (signaling.sfu.janus_events): connections and media, no more.
                    "events": "webrtc,media",
                    "grouping": True,
                    "json": "compact",
                    "backend": self.events_url,
                    "backend_user": "janus",
                    "backend_pwd": self.events_secret or "",
                    "max_retransmissions": 3,
                },
            )
        return files

    def write(self, folder: Path) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for name, text in self.files(folder).items():
            path = folder / name
            path.write_text(text)
            path.chmod(0o600)  # it holds the API secret and the admin key
            written.append(path)
        return written

    def _core(self, folder: Path) -> str:
        general: dict[str, str | int | bool] = {
            "configs_folder": str(folder),
            "plugins_folder": str(self.modules / "plugins"),
            "transports_folder": str(self.modules / "transports"),
            "events_folder": str(self.modules / "events"),
            "loggers_folder": str(self.modules / "loggers"),
            "debug_level": self.debug_level,
            "api_secret": self.api_secret,
            "session_timeout": self.session_timeout,
            "reclaim_session_timeout": self.reclaim_timeout,
            "hide_dependencies": True,
            **({"admin_secret": self.admin_secret} if self.admin_port is not None and self.admin_secret else {}),
            "server_name": "django-rtc-signaling",
        }
        nat: dict[str, str | int | bool] = {"nice_debug": False, "ice_ignore_list": "vmnet"}
        if self.media_address is not None:
            nat["ice_enforce_list"] = self.media_address
        if self.public_address is not None:
            nat["nat_1_1_mapping"] = self.public_address
        if self.turn is not None:
            host, port, transport, user, password = self.turn
            nat.update(turn_server=host, turn_port=port, turn_type=transport, turn_user=user, turn_pwd=password)
        nat.update(self.extra_nat)
        return "\n".join(
            [
                _section("general", general),
                _section("media", {"rtp_port_range": f"{self.rtp_ports[0]}-{self.rtp_ports[1]}"}),
                _section("nat", nat),
                # Every plugin but the VideoRoom, and every transport but WebSockets, stay unloaded.
                _section("plugins", {"disable": _all_but(self.modules / "plugins", "libjanus_videoroom.so")}),
                _section("transports", {"disable": _all_but(self.modules / "transports", "libjanus_websockets.so")}),
                _section("loggers", {"disable": _all_but(self.modules / "loggers", "")}),
                _section(
                    "events",
                    {
                        "broadcast": self.events_url is not None,
                        "disable": _all_but(self.modules / "events", "libjanus_sampleevh.so"),
                        # No media statistics (a post per stream every few seconds): the log needs none.
                        "stats_period": 0,
                    },
                ),
            ]
        )

    def _admin_api(self) -> dict[str, str | int | bool]:
        if self.admin_port is None:
            return _no_admin_api()
        return {
            "admin_ws": True,
            "admin_ws_port": self.admin_port,
            "admin_ws_ip": self.api_address,
            "admin_ws_acl": self.api_acl,
            "admin_wss": False,
        }

    def _websockets(self) -> str:
        return "\n".join(
            [
                _section(
                    "general",
                    {
                        "json": "compact",
                        "ws": True,
                        "ws_port": self.api_port,
                        "ws_ip": self.api_address,
                        "ws_acl": self.api_acl,
                        "wss": False,
                    },
                ),
                _section("admin", self._admin_api()),
            ]
        )


def _no_admin_api() -> dict[str, str | int | bool]:
    return {"admin_ws": False, "admin_wss": False}


def _all_but(folder: Path, keep: str) -> str:
    """Janus's ``disable`` list: every module of ``folder`` but ``keep``."""
    names = sorted(path.name for path in folder.glob("*.so")) if folder.exists() else []
    return ",".join(name for name in names if name != keep)


def _section(name: str, values: Mapping[str, str | int | bool]) -> str:
    lines = [f"{name}: {{"]
    for key, value in values.items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, int):
            text = str(value)
        else:
            text = json.dumps(value)  # libconfig strings take JSON's escapes
        lines.append(f"\t{key} = {text}")
    lines.append("}\n")
    return "\n".join(lines)
