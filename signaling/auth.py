"""Channels' session authentication, without a database round trip for sockets that carry no session."""

from __future__ import annotations

from typing import Any

from channels.auth import AuthMiddleware
from channels.sessions import CookieMiddleware, SessionMiddleware
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


def AuthMiddlewareStack(inner: Any) -> Any:
    """Cookies, session and user in the scope, like ``channels.auth.AuthMiddlewareStack``."""
    return CookieMiddleware(SessionMiddleware(SessionAuthMiddleware(inner)))
