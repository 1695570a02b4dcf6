"""Origin checks against cross-site WebSocket hijacking.

Browsers always send ``Origin`` on a WebSocket handshake and attach the site's cookies to it, so a page on another
site could otherwise open an authenticated socket. A handshake without ``Origin`` does not come from a browser
page (and could claim any origin it liked), so it is allowed.

The rule is the browser's own notion of a site: the page's origin must be the socket's origin (the same host and
port as the handshake's ``Host``, a host in ``ALLOWED_HOSTS``), or be listed in full in
``SIGNALING["ALLOWED_ORIGINS"]``. A proxy in front must pass the ``Host`` the browser used, port included (nginx:
``proxy_set_header Host $http_host``).
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


def _site(netloc: str) -> str:
    """``host[:port]`` in lower case, without a default port (a Host header carries no scheme to tell which)."""
    netloc = netloc.strip().lower()
    for default in (":80", ":443"):
        if netloc.endswith(default):
            return netloc[: -len(default)]
    return netloc


def is_origin_allowed(
    origin: str | None, extra_origins: Sequence[str], hosts: Sequence[str], host_header: str | None = None
) -> bool:
    """Whether a handshake with this ``Origin`` header may open a socket.

    Allowed: an origin listed in full in ``extra_origins`` (scheme, host and port), or the page's own origin: its
    ``host[:port]`` equal to the handshake's ``Host`` (so another port of the same host does not pass) and that
    host in ``hosts`` (``ALLOWED_HOSTS``). Without a ``host_header`` to compare with, the host alone is checked.
    """
    if origin is None:
        return True
    if "*" in extra_origins:
        return True
    normalized = normalize_origin(origin)
    if normalized is None:
        return False
    if normalized in {normalize_origin(o) for o in extra_origins}:
        return True
    parts = urlsplit(normalized)
    if host_header is not None and _site(parts.netloc) != _site(host_header):
        return False
    hostname = parts.hostname or ""
    if ":" in hostname:
        hostname = f"[{hostname}]"
    return validate_host(hostname, list(hosts))
