"""The reference project as benchmarked: production mode, and a rate limit that the load itself does not hit."""

from rtcsite.settings import *  # noqa: F403
from rtcsite.settings import SIGNALING

DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
SIGNALING = {**SIGNALING, "RATE_LIMIT_PER_SECOND": 100_000.0, "RATE_LIMIT_BURST": 100_000}
