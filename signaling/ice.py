"""The ICE configuration a client gets in ``joined.iceServers``, with TURN credentials of its own.

TURN credentials follow the TURN REST API scheme that coturn checks with ``use-auth-secret``: the username is
``<expiry unix time>:<peer id>`` and the password is base64(HMAC-SHA1(shared secret, username)). The TURN server
needs only the shared secret; credentials stop working at their expiry, so a leaked one is of little use.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

from signaling.conf import conf


def turn_credentials(secret: str, peer_id: str, ttl: int, now: float | None = None) -> tuple[str, str]:
    """(username, credential) for one peer, valid ``ttl`` seconds from ``now``."""
    expiry = int((time.time() if now is None else now) + ttl)
    username = f"{expiry}:{peer_id}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def turn_refresh_interval() -> float | None:
    """Seconds between the fresh TURN credentials a peer in a room is sent (``ice-servers``): half their
    lifetime, so that the client has new ones long before the old ones stop working; None without TURN."""
    if not (conf.TURN_SECRET and conf.TURN_URLS):
        return None
    return max(1.0, conf.TURN_CREDENTIAL_TTL / 2)


def ice_servers_for(peer_id: str, ttl: int | None = None) -> list[dict[str, Any]] | None:
    """What ``joined.iceServers`` carries for this peer, with TURN credentials valid ``ttl`` seconds
    (``TURN_CREDENTIAL_TTL`` unless given); None when nothing is configured (the client then uses its own
    defaults)."""
    servers = conf.ICE_SERVERS
    secret, urls = conf.TURN_SECRET, conf.TURN_URLS
    if secret and urls:
        username, credential = turn_credentials(secret, peer_id, conf.TURN_CREDENTIAL_TTL if ttl is None else ttl)
        servers = [*(servers or []), {"urls": urls, "username": username, "credential": credential}]
    return servers
