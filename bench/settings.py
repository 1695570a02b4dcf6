"""The reference project as benchmarked: production mode, and rate and address limits that the load itself does not
hit (every benchmark client comes from 127.0.0.1)."""

from rtcsite.settings import *  # noqa: F403
from rtcsite.settings import SIGNALING

DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
SIGNALING = {
    **SIGNALING,
    "RATE_LIMIT_PER_SECOND": 100_000.0,
    "RATE_LIMIT_BURST": 100_000,
    "MAX_SOCKETS": 100_000,
    "MAX_SOCKETS_PER_ADDRESS": 100_000,
    "JOIN_RATE_PER_ADDRESS": 100_000.0,
    "JOIN_BURST_PER_ADDRESS": 100_000,
    "ROOM_CREATION_RATE_PER_ADDRESS": 100_000.0,
    "ROOM_CREATION_BURST_PER_ADDRESS": 100_000,
}
