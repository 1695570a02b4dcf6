"""What can go wrong in a call, as the browser client names it (``WebRTCCallError.code``)."""

from __future__ import annotations

from signaling.protocol import CloseCode

#: Close codes after which reconnecting cannot help: the server refused this client or ended its membership
#: (the browser client's FINAL_CLOSE_CODES).
FINAL_CLOSE_CODES: dict[int, str] = {
    CloseCode.FORBIDDEN: "forbidden",
    CloseCode.ORIGIN_NOT_ALLOWED: "origin-not-allowed",
    CloseCode.TOO_LARGE: "too-large",
    CloseCode.KICKED: "kicked",
    CloseCode.ROOM_CLOSED: "room-closed",
    CloseCode.REPLACED: "replaced",
}

#: A join refused with one of these is worth trying again later; any other refusal is final.
RETRYABLE_JOIN_ERRORS = frozenset({"internal", "rate-limited", "sfu-unavailable"})


class WebRTCCallError(Exception):
    """An error of the call: ``code`` is the server's error code (``room-full``, ``forbidden``, ...) or one of the
    client's own (``signaling-unreachable``, ``reconnect-failed``, ``negotiation-failed``, ``ice-failed``, ...);
    ``peer_id`` names the remote peer for errors of one peer's connection."""

    def __init__(self, code: str, message: str, peer_id: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.peer_id = peer_id

    def __repr__(self) -> str:
        return f"WebRTCCallError({self.code!r}, {self.message!r}, peer_id={self.peer_id!r})"
