"""Origin checks against cross-site WebSocket hijacking.

Browsers always send ``Origin`` on a WebSocket handshake and attach the site's cookies to it, so a page on another
site could otherwise open an authenticated socket. A handshake without ``Origin`` does not come from a browser
page (and could claim any origin it liked), so it is allowed.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from django.conf import settings
from django.http.request import validate_host


def allowed_hosts() -> list[str]:
    """``ALLOWED_HOSTS``, with Django's own DEBUG fallback to the local host names when it is empty."""
    hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not hosts:
        hosts = [".localhost", "127.0.0.1", "[::1]"]
    return hosts


def normalize_origin(origin: str) -> str | None:
    """``scheme://host[:port]`` in lower case, or None when ``origin`` is not such a thing."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")


def is_origin_allowed(origin: str | None, extra_origins: Sequence[str], hosts: Sequence[str]) -> bool:
    """Whether a handshake with this ``Origin`` header may open a socket."""
    if origin is None:
        return True
    if "*" in extra_origins:
        return True
    normalized = normalize_origin(origin)
    if normalized is None:
        return False
    if normalized in {normalize_origin(o) for o in extra_origins}:
        return True
    hostname = urlsplit(normalized).hostname or ""
    if ":" in hostname:
        hostname = f"[{hostname}]"
    return validate_host(hostname, list(hosts))
