"""The placement of SFU rooms in Redis (``signaling.registry.placement``), next to the rooms it places: every worker
reads and changes it atomically, so the members of a room all find it on the same node.

Keys, under the registry's prefix (P)::

    P:sfu:placed        hash  room -> the node carrying its media
    P:sfu:down:<node>   set while the node is marked down (expires after SFU_DOWN_HOLD)
    P:sfu:draining      set   nodes being drained
    P:sfu:step:<node>   set while a room is being moved off the draining node (expires after SFU_DRAIN_STEP)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from signaling.registry import RegistryUnavailable
from signaling.registry.connection import pending, reply
from signaling.registry.placement import NodeLoad, SfuPlacement
from signaling.registry.redis.limits import REDIS_ERRORS

if TYPE_CHECKING:
    from signaling.registry.redis.registry import RedisRegistry

# KEYS: placed, draining. ARGV: room id, key prefix, node to avoid ('' = none), '1' to take nodes marked down as up
# ('' = not), then each node and its capacity ('' = no bound). The room's node if it is up and not avoided; else
# the least loaded node that is up, not draining and below its capacity (the peers of its rooms, a room counting
# one at least), which the room goes to.
PLACE = """
local known, caps, nodes = {}, {}, {}
for i = 5, #ARGV, 2 do
  nodes[#nodes + 1] = ARGV[i]
  known[ARGV[i]] = true
  caps[ARGV[i]] = tonumber(ARGV[i + 1])
end
local function down(node)
  return ARGV[4] == '' and redis.call('EXISTS', ARGV[2] .. ':sfu:down:' .. node) == 1
end
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current and current ~= ARGV[3] and known[current] and not down(current) then return current end
local peers = {}
local placed = redis.call('HGETALL', KEYS[1])
for i = 1, #placed, 2 do
  local node = placed[i + 1]
  peers[node] = (peers[node] or 0) + math.max(1, redis.call('HLEN', ARGV[2] .. ':room:' .. placed[i]))
end
local best, best_share = nil, 0
for _, node in ipairs(nodes) do
  if node ~= ARGV[3] and not down(node) and redis.call('SISMEMBER', KEYS[2], node) == 0 then
    local load, cap = peers[node] or 0, caps[node]
    if cap == nil or load < cap then
      local share = load
      if cap then share = load / cap end
      if best == nil or share < best_share then best, best_share = node, share end
    end
  end
end
if best then redis.call('HSET', KEYS[1], ARGV[1], best) end
return best
"""

# KEYS: placed. ARGV: room id, node ('' = whichever). The room is on no node any more.
FORGET = """
if ARGV[2] == '' or redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then redis.call('HDEL', KEYS[1], ARGV[1]) end
return 1
"""


async def answer(command: object) -> Any:
    """The asyncio client's ``command``, awaited; Redis's failures are the registry's (``RegistryUnavailable``)."""
    try:
        return await pending(command)
    except REDIS_ERRORS as error:
        raise RegistryUnavailable(str(error)) from error


class RedisPlacement(SfuPlacement):
    def __init__(self, registry: RedisRegistry) -> None:
        self.registry = registry
        self.prefix = registry.prefix

    def key(self, *parts: str) -> str:
        return self.registry.key("sfu", *parts)

    async def place(
        self, room_id: str, capacities: Mapping[str, int | None], avoid: str = "", despite_down: bool = False
    ) -> str | None:
        args: list[str] = [room_id, self.prefix, avoid, "1" if despite_down else ""]
        for name, capacity in capacities.items():
            args += [name, "" if capacity is None else str(capacity)]
        redis = self.registry.worker().redis
        # One script: the read of where the room is and the move of it are atomic against every other worker.
        found = await answer(redis.eval(PLACE, 2, self.key("placed"), self.key("draining"), *args))
        return str(found) if found else None

    async def node_of(self, room_ids: Iterable[str]) -> dict[str, str]:
        ids = list(room_ids)
        if not ids:
            return {}
        nodes = await answer(self.registry.worker().redis.hmget(self.key("placed"), ids))
        return {room_id: str(node) for room_id, node in zip(ids, nodes, strict=True) if node}

    async def forget(self, room_id: str, node: str | None = None) -> None:
        await answer(self.registry.worker().redis.eval(FORGET, 1, self.key("placed"), room_id, node or ""))

    async def mark_down(self, node: str, hold: float) -> None:
        await answer(self.registry.worker().redis.set(self.key("down", node), "1", px=max(1, int(hold * 1000))))

    async def mark_up(self, node: str) -> None:
        await answer(self.registry.worker().redis.delete(self.key("down", node)))

    async def set_draining(self, node: str, draining: bool) -> None:
        redis = self.registry.worker().redis
        key = self.key("draining")
        await answer(redis.sadd(key, node) if draining else redis.srem(key, node))

    def set_draining_now(self, node: str, draining: bool) -> None:
        client = self.registry.sync_client()
        try:
            if draining:
                client.sadd(self.key("draining"), node)
            else:
                client.srem(self.key("draining"), node)
        except REDIS_ERRORS as error:
            raise RegistryUnavailable(str(error)) from error

    async def draining(self) -> set[str]:
        return {str(node) for node in await answer(self.registry.worker().redis.smembers(self.key("draining")))}

    async def claim_drain_step(self, node: str, room_id: str, step: float) -> bool:
        redis = self.registry.worker().redis
        taken = await answer(redis.set(self.key("step", node), room_id, nx=True, px=max(1, int(step * 1000))))
        return bool(taken)

    def loads(self, nodes: Iterable[str]) -> dict[str, NodeLoad]:
        names = list(nodes)
        client = self.registry.sync_client()
        try:
            placed = {str(k): str(v) for k, v in reply(client.hgetall(self.key("placed"))).items()}
            occupancy = self.registry.occupancy(placed)
            pipe = client.pipeline(transaction=False)
            for name in names:
                pipe.exists(self.key("down", name))
            pipe.smembers(self.key("draining"))
            *downs, draining = pipe.execute()
        except REDIS_ERRORS as error:
            raise RegistryUnavailable(str(error)) from error
        found: dict[str, NodeLoad] = {}
        for name, down in zip(names, downs, strict=True):
            rooms = tuple(sorted(room_id for room_id, node in placed.items() if node == name))
            peers = sum(occupancy.get(room_id, 0) for room_id in rooms)
            found[name] = NodeLoad(name, rooms, peers, bool(down), name in {str(n) for n in draining})
        return found
