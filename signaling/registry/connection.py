"""Where the Redis registry's connections go: one Redis (``redis://``, ``rediss://``, ``unix://``) or the master that
Redis Sentinel names (``redis+sentinel://``), for the registry's own clients and for the channel layer it publishes
through. Kept apart from the registry, as channels_redis keeps its connection handling apart from the layer.

A Sentinel URL lists the sentinels, then the master's name and optionally the database::

    redis+sentinel://10.0.0.1:26379,10.0.0.2:26379,10.0.0.3:26379/mymaster/0
    redis+sentinel://:password@10.0.0.1:26379,10.0.0.2:26379/mymaster   (the password of the Redis servers)

Clients ask the sentinels for the current master on every new connection, so after a failover the workers follow
the promoted replica as soon as their connections to the old master break.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast
from urllib.parse import unquote

import redis
import redis.asyncio as aioredis
import redis.asyncio.sentinel
import redis.sentinel

SENTINEL_SCHEME = "redis+sentinel://"
# Connections one worker's client keeps at most (with Sentinel, which has no blocking pool: the same bound, failing
# past it rather than waiting).
MAX_CONNECTIONS = 32


@dataclass(frozen=True)
class RedisTarget:
    """A plain Redis URL, or Sentinel's addresses and the master's name."""

    url: str | None = None
    sentinels: tuple[tuple[str, int], ...] = ()
    master: str = ""
    db: int = 0
    password: str | None = None

    @property
    def uses_sentinel(self) -> bool:
        return self.url is None


def parse_redis_url(url: str) -> RedisTarget:
    """A ``RedisTarget`` from ``SIGNALING["REDIS_URL"]``; raises ValueError for a Sentinel URL it cannot read."""
    if not url.startswith(SENTINEL_SCHEME):
        return RedisTarget(url=url)
    rest = url[len(SENTINEL_SCHEME) :]
    password = None
    if "@" in rest:
        credentials, rest = rest.rsplit("@", 1)
        password = unquote(credentials.split(":", 1)[1]) if ":" in credentials else unquote(credentials)
    hosts, _, path = rest.partition("/")
    parts = [part for part in path.split("/") if part]
    if not hosts or not parts:
        raise ValueError("A Sentinel URL names its sentinels and the master: redis+sentinel://host:port,.../master")
    sentinels = []
    for host in hosts.split(","):
        name, _, port = host.rpartition(":")
        sentinels.append((name.strip("[]") or host, int(port) if port else 26379))
    return RedisTarget(
        sentinels=tuple(sentinels), master=parts[0], db=int(parts[1]) if len(parts) > 1 else 0, password=password
    )


# redis-py's Sentinel classes carry annotations from redis 8 on and none before: seen through Callable[..., Any],
# both type-check the same (a type: ignore would be unused on one and needed on the other).
_ASYNC_SENTINEL: Callable[..., Any] = redis.asyncio.sentinel.Sentinel
_SYNC_SENTINEL: Callable[..., Any] = redis.sentinel.Sentinel


def async_client(target: RedisTarget, **options: Any) -> aioredis.Redis:
    """An asyncio client. For one Redis, commands beyond ``MAX_CONNECTIONS`` wait for a free connection (up to
    ``socket_timeout``) rather than fail: a burst (a drain parking every peer, a wave of joins) queues."""
    if target.url is not None:
        return aioredis.Redis.from_pool(
            aioredis.BlockingConnectionPool.from_url(
                target.url, max_connections=MAX_CONNECTIONS, timeout=options.get("socket_timeout"), **options
            )
        )
    sentinel = _ASYNC_SENTINEL(list(target.sentinels), socket_timeout=options.get("socket_timeout"))
    client: aioredis.Redis = sentinel.master_for(
        target.master, db=target.db, password=target.password, max_connections=MAX_CONNECTIONS * 4, **options
    )
    return client


def sync_client(target: RedisTarget, **options: Any) -> redis.Redis:
    if target.url is not None:
        return redis.Redis.from_url(target.url, **options)
    sentinel = _SYNC_SENTINEL(list(target.sentinels), socket_timeout=options.get("socket_timeout"))
    client: redis.Redis = sentinel.master_for(target.master, db=target.db, password=target.password, **options)
    return client


T = TypeVar("T")


# redis-py 7 types every command's result as ``Awaitable[T] | T`` on both clients; redis 8 as ``T`` on the
# synchronous client and ``Awaitable[T]`` on the asyncio one. These say which it is, so the code type-checks the
# same on both (and costs nothing: a cast, no call into redis).
def reply(result: Awaitable[T] | T) -> T:
    """A synchronous client's command result."""
    return cast(T, result)


def pending(command: object) -> Awaitable[Any]:
    """An asyncio client's command, to await. Its result is untyped: no one annotation of it passes on both
    versions (mypy cannot tell ``T`` from ``Awaitable[T]`` in redis 8's result, nor pick redis 7's arm)."""
    return cast(Awaitable[Any], command)


def layer_host(target: RedisTarget, **options: Any) -> dict[str, Any]:
    """The channels_redis ``hosts`` entry for the same Redis."""
    if target.url is not None:
        return {"address": target.url, **options}
    return {
        "master_name": target.master,
        "sentinels": list(target.sentinels),
        "db": target.db,
        "password": target.password,
        **options,
    }
