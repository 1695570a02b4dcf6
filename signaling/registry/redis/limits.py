"""The Redis registry's timeouts and sizes, and the errors it takes for Redis being unreachable."""

from __future__ import annotations

import asyncio
import os
import socket

import redis

# Seconds a Redis command may take before the registry gives up on it: nothing may hang on a lost Redis.
REDIS_TIMEOUT = 2.0
# One immediate retry, to replace a pooled connection that a Redis restart closed. redis-py's default (retries
# with exponential backoff up to 10 s) would hold the upkeep loop for seconds after a restart, and a worker whose
# heartbeat is late gets taken for dead; the upkeep loop itself tries again every WORKER_TIMEOUT / 4.
RETRIES = 1
# Seconds a worker that left the registry still takes what publishers who saw it before sent to its channel.
QUIET_PERIOD = 0.2
# Most notices one pub/sub message carries.
BATCH_SIZE = 500
# How long a batch is retried while Redis is unreachable before it is dropped.
PUBLISH_RETRY_SECONDS = 10.0
# Departed peers are remembered in a view this long, to outlast any notice still on its way.
TOMBSTONE_SECONDS = 60.0
# The version of a departure this worker could not get from Redis: above any other, since peer ids never return.
DEPARTED_FOR_GOOD = 2**62


REDIS_ERRORS = (redis.RedisError, OSError, asyncio.TimeoutError)
# Which process a worker channel belongs to, for operators reading Redis.
IDENTITY = f"{socket.gethostname()}:{os.getpid()}"
