"""The table of the endpoint's mounts: each ``SignalingConsumer.as_asgi()`` call in the URLconf, numbered in the
order the URLconf makes them.

Every worker loads the same URLconf, so a mount number stored with a peer in a shared registry names the same
mount on any worker: the worker that cleans up after a dead one (or lets a parked peer go) calls the callbacks
that peer's endpoint was mounted with, and sends the signals as that consumer class.
"""

from __future__ import annotations

from dataclasses import dataclass

from signaling.events import Callbacks


@dataclass(frozen=True, slots=True)
class Mount:
    """One ``as_asgi()`` mount: its consumer class, its callbacks and its ``max_peers`` option (None: the
    ``SIGNALING["MAX_PEERS"]`` default)."""

    consumer_class: type
    callbacks: Callbacks
    max_peers: int | None = None


_mounts: list[Mount] = []


def register_mount(consumer_class: type, callbacks: Callbacks, max_peers: int | None = None) -> int:
    """Number one ``as_asgi()`` mount."""
    _mounts.append(Mount(consumer_class, callbacks, max_peers))
    return len(_mounts) - 1


def mount_of(number: int) -> Mount:
    """The mount of that number; for a number this process does not know (a worker with another URLconf, or a
    process that loaded none), the first mount's consumer class with no callbacks."""
    if 0 <= number < len(_mounts):
        return _mounts[number]
    return Mount(_mounts[0].consumer_class if _mounts else object, Callbacks())


def mounted_max_peers() -> set[int | None]:
    """The ``max_peers`` options of the mounts this process loaded (empty before its URLconf is loaded)."""
    return {mount.max_peers for mount in _mounts}
