"""HTTP Basic authentication that stops answering password guesses from an address that keeps getting them wrong.

Each wrong password costs the server a full password hash (hundreds of milliseconds of PBKDF2); unthrottled, a
script can guess without end and load the worker while it does. After ``ROOMS["AUTH_FAILURES_PER_ADDRESS"]``
failures within ``ROOMS["AUTH_FAILURE_WINDOW"]`` seconds, requests from that address that carry Basic credentials
get 429 without any hashing until the window has passed. Counts live in Django's default cache (per process with
the local-memory cache; shared by every worker with a shared cache such as Redis).
"""

from __future__ import annotations

from typing import Any

from django.core.cache import cache
from rest_framework.authentication import BasicAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed, Throttled
from rest_framework.request import Request

from rooms.conf import conf


class ThrottledBasicAuthentication(BasicAuthentication):
    """DRF's ``BasicAuthentication`` with a per-address limit on failed attempts."""

    def authenticate(self, request: Request) -> Any:
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != b"basic":
            return None
        key = f"rooms:basic-auth-failures:{request.META.get('REMOTE_ADDR', '')}"
        window = conf.AUTH_FAILURE_WINDOW
        if (cache.get(key) or 0) >= conf.AUTH_FAILURES_PER_ADDRESS:
            raise Throttled(wait=window, detail="Too many failed logins from your address.")
        try:
            return super().authenticate(request)
        except AuthenticationFailed:
            # add() starts the window with the first failure; incr() counts the others within it.
            cache.add(key, 0, timeout=window)
            try:
                cache.incr(key)
            except ValueError:  # the window ended between the two calls
                cache.set(key, 1, timeout=window)
            raise


try:
    from drf_spectacular.authentication import BasicScheme
except ImportError:  # the OpenAPI schema is optional
    pass
else:

    class ThrottledBasicScheme(BasicScheme):  # type: ignore[no-untyped-call]
        """Describes ``ThrottledBasicAuthentication`` in the OpenAPI schema as plain HTTP Basic."""

        target_class = "rooms.authentication.ThrottledBasicAuthentication"
