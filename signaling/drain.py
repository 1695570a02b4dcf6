"""Whether this worker process is draining for a shutdown: it then reports itself not ready (``/readyz`` 503),
so that load balancers and orchestrators stop sending it new connections."""

from __future__ import annotations

_draining = False


def is_draining() -> bool:
    return _draining


def start_draining() -> None:
    global _draining
    _draining = True


def stop_draining() -> None:
    """For tests, and for a worker that was told to drain and then to go on."""
    global _draining
    _draining = False
