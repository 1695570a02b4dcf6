"""Per-connection rate limiting."""

from __future__ import annotations

import time


class TokenBucket:
    """Allows ``burst`` events at once and ``rate`` per second sustained."""

    __slots__ = ("_tokens", "_updated", "burst", "rate")

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._updated = time.monotonic()

    def is_full(self, now: float | None = None) -> bool:
        """Whether the bucket has refilled to its burst (it was not used lately)."""
        if now is None:
            now = time.monotonic()
        return self._tokens + (now - self._updated) * self.rate >= self.burst

    def allow(self, now: float | None = None) -> bool:
        """Take one token if there is one."""
        if now is None:
            now = time.monotonic()
        tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        if tokens >= 1.0:
            self._tokens = tokens - 1.0
            return True
        self._tokens = tokens
        return False
