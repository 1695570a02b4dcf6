"""Channels' session authentication, without a database round trip for sockets that carry no session, and
without its three layers for sockets that carry no cookie at all."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from channels.auth import AuthMiddleware
from channels.sessions import CookieMiddleware, SessionMiddleware
from django.conf import settings
from django.contrib.auth.models import AnonymousUser


class SessionAuthMiddleware(AuthMiddleware):
    """``channels.auth.AuthMiddleware`` that answers anonymous at once when the handshake has no session cookie.

    Channels resolves the user in a worker thread for every connection; a socket without a session can only be
    anonymous, and skipping that thread hop is a large part of what a join costs.
    """

    async def resolve_scope(self, scope: dict[str, Any]) -> None:
        if scope["session"].session_key is None:
            scope["user"]._wrapped = AnonymousUser()
            return
        await super().resolve_scope(scope)


class CookielessFastPath:
    """``stack`` for a connection that brings cookies; for a WebSocket that brings none (a client that is not a
    browser of the site: a bot, a load test, the Python peer), the scope ``stack`` would have made (no cookies, a
    session without a key, an anonymous user) straight to ``inner``. Each of the stack's layers copies the scope
    and stays on the connection's stack for the socket's life: a kilobyte or so each, per idle socket."""

    def __init__(self, stack: Any, inner: Any) -> None:
        self.stack = stack
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] != "websocket" or any(name == b"cookie" for name, _ in scope.get("headers", ())):
            return await self.stack(scope, receive, send)
        # The server made this scope for this connection alone: filled in place, not copied (a copy stays alive
        # for the socket's life as well).
        scope.update(cookies={}, session=import_module(settings.SESSION_ENGINE).SessionStore(), user=AnonymousUser())
        return await self.inner(scope, receive, send)


def AuthMiddlewareStack(inner: Any) -> Any:
    """Cookies, session and user in the scope, like ``channels.auth.AuthMiddlewareStack``."""
    return CookielessFastPath(CookieMiddleware(SessionMiddleware(SessionAuthMiddleware(inner))), inner)
