"""Limits that span connections: sockets per worker and per client address, joins and room creations per address.

A per-connection limit alone lets one client multiply itself by opening more sockets; these bound what one address
can take of a worker. They are per worker process (a site with N workers behind nginx admits up to N times as much
from one address when its sockets land on different workers; ``deploy/nginx.conf`` adds a site-wide
``limit_conn``). The address is the ASGI ``client``: behind a proxy, run daphne with ``--proxy-headers`` and let the
proxy overwrite ``X-Forwarded-For`` with the address it saw, never append to what the client sent.
"""

from __future__ import annotations

from typing import Any

from django.core.signals import setting_changed
from django.dispatch import receiver

from signaling.conf import conf
from signaling.protocol import CloseCode
from signaling.ratelimit import TokenBucket

# Idle addresses' buckets are forgotten once this many are kept: memory stays bounded under address churn.
MAX_TRACKED_ADDRESSES = 10_000


class Admission:
    """One worker's counts of open sockets and its per-address join and room-creation budgets."""

    def __init__(self) -> None:
        self.max_sockets = conf.MAX_SOCKETS
        self.max_sockets_per_address = conf.MAX_SOCKETS_PER_ADDRESS
        self.join_rate, self.join_burst = conf.JOIN_RATE_PER_ADDRESS, conf.JOIN_BURST_PER_ADDRESS
        self.creation_rate = conf.ROOM_CREATION_RATE_PER_ADDRESS
        self.creation_burst = conf.ROOM_CREATION_BURST_PER_ADDRESS
        self.sockets = 0
        self.sockets_by_address: dict[str, int] = {}
        self._joins: dict[str, TokenBucket] = {}
        self._creations: dict[str, TokenBucket] = {}

    def open(self, address: str | None) -> int | None:
        """Count a new socket in; the close code to refuse it with when a limit is reached (nothing is counted)."""
        if self.sockets >= self.max_sockets:
            return CloseCode.TRY_AGAIN_LATER
        if address is not None:
            count = self.sockets_by_address.get(address, 0)
            if count >= self.max_sockets_per_address:
                return CloseCode.TOO_MANY_CONNECTIONS
            self.sockets_by_address[address] = count + 1
        self.sockets += 1
        return None

    def close(self, address: str | None) -> None:
        """Count a socket that ``open`` admitted out again."""
        self.sockets = max(0, self.sockets - 1)
        if address is None:
            return
        count = self.sockets_by_address.get(address, 0) - 1
        if count > 0:
            self.sockets_by_address[address] = count
        else:
            self.sockets_by_address.pop(address, None)

    def allow_join(self, address: str | None) -> bool:
        return address is None or self._take(self._joins, address, self.join_rate, self.join_burst)

    def allow_room_creation(self, address: str | None) -> bool:
        return address is None or self._take(self._creations, address, self.creation_rate, self.creation_burst)

    def _take(self, buckets: dict[str, TokenBucket], address: str, rate: float, burst: int) -> bool:
        bucket = buckets.get(address)
        if bucket is None:
            if len(buckets) >= MAX_TRACKED_ADDRESSES:
                self._forget_idle(buckets)
            bucket = buckets[address] = TokenBucket(rate, burst)
        return bucket.allow()

    @staticmethod
    def _forget_idle(buckets: dict[str, TokenBucket]) -> None:
        # A full bucket is the same as a new one: forgetting it changes nothing for its address. If every bucket is
        # in use (a flood from very many addresses), the oldest half goes: at worst those get a fresh budget.
        for address in [address for address, bucket in buckets.items() if bucket.is_full()]:
            del buckets[address]
        if len(buckets) >= MAX_TRACKED_ADDRESSES:
            for address in list(buckets)[: len(buckets) // 2]:
                del buckets[address]


_admission: Admission | None = None


def get_admission() -> Admission:
    """This process's admission counts, built from the settings on first use."""
    global _admission
    if _admission is None:
        _admission = Admission()
    return _admission


@receiver(setting_changed)
def _reset_admission(*, setting: str, **kwargs: Any) -> None:
    global _admission
    if setting == "SIGNALING" and _admission is not None:
        # Sockets open now stay counted; only the limits and budgets start over.
        fresh = Admission()
        fresh.sockets, fresh.sockets_by_address = _admission.sockets, _admission.sockets_by_address
        _admission = fresh
