"""Rooms shared by several workers through Redis.

Redis holds the truth: which peers are in which room and which worker's channel reaches each of them. Joins and
leaves are Lua scripts, so capacity holds however many workers admit peers at once. Each worker keeps, for the
rooms its own peers are in, a *view* of the members and their workers; a relayed message reads only that view:
to a peer on this worker it is written straight to the socket, to a peer elsewhere it goes through the
channels-redis pub/sub layer to that worker's channel, batched per worker.

A member whose socket drops is *parked* in Redis, not in its worker's memory: any worker may then resume it
(``RESUME``: the place moves to the resuming worker, atomically, with what was kept for it), or let it leave when
its grace period is over (every worker's upkeep sweeps the deadlines). A dead worker's members are parked the same
way when it is reaped, so their clients, back on another worker within seconds, resume under their own ids.

Every membership change gets a version from Redis (its clock in microseconds, kept strictly increasing), and
views apply changes last-writer-wins per peer, so notices that arrive out of order between workers, or before
the script that created them has answered, still leave every view right.

Keys, under ``SIGNALING["REDIS_PREFIX"]`` (P)::

    P:room:<room>      hash  peer -> "worker|version|mount" ("@parked|..." while the peer waits for a resume)
    P:state:<room>     hash  peer -> its state as JSON (metadata, media), for members that have one
    P:parked           zset  "room|peer" of parked peers, scored by when their grace period ends (ms)
    P:parked:<room>:<peer>  hash  a parked peer: bytes kept, reason it will leave with, when it dropped
    P:kept:<room>:<peer>    list  frames kept for a parked peer, in order
    P:rooms            set   live room ids
    P:workers          set   workers' channels
    P:hb:<worker>      "host:pid" of the worker, expires after WORKER_TIMEOUT
    P:gone:<worker>    set for a minute when a worker drained or was reaped: frames for it follow its peers
    P:peers:<worker>   hash  peer -> room: what a dead worker leaves to clean up
    P:clock            the last version handed out
    P:epoch            set once; a new value means Redis lost everything

The package, one concern a module: ``registry`` (the ``RoomRegistry`` itself), ``worker`` (one worker's
membership, relaying, parking and upkeep), ``view`` (room views and members), ``scripts`` (the Lua scripts),
``wire`` (the notices between workers, typed), ``courier`` (publishing and receiving them), ``limits``.
"""

from signaling.registry.redis.registry import RedisRegistry
from signaling.registry.redis.view import Member, RoomView, announce_to
from signaling.registry.redis.worker import Worker

__all__ = ["Member", "RedisRegistry", "RoomView", "Worker", "announce_to"]
