"""The Janus nodes SFU rooms go through, as configured: ``SIGNALING["SFU_NODES"]``, or the one node "default" of
``SIGNALING["SFU_JANUS_URL"]``. Every node runs with the same API secret and VideoRoom admin key
(``SFU_API_SECRET``, ``SFU_ADMIN_KEY``; ``manage.py janus_config`` writes them into each node's configuration)."""

from __future__ import annotations

from dataclasses import dataclass

from signaling.conf import conf

#: The name of the node of ``SFU_JANUS_URL``.
DEFAULT_NODE = "default"


@dataclass(frozen=True, slots=True)
class SfuNodeConfig:
    name: str
    #: The node's WebSocket API as the workers reach it (a private address).
    url: str
    #: Peers the node carries at most (None: no bound); a node at its capacity gets no new room.
    capacity: int | None = None


def configured_nodes() -> dict[str, SfuNodeConfig]:
    """The configured nodes by name, in the order the setting lists them ({} when SFU rooms are not configured)."""
    if conf.SFU_NODES:
        return {
            name: SfuNodeConfig(name, str(node["URL"]), node.get("CAPACITY")) for name, node in conf.SFU_NODES.items()
        }
    if conf.SFU_JANUS_URL:
        return {DEFAULT_NODE: SfuNodeConfig(DEFAULT_NODE, conf.SFU_JANUS_URL)}
    return {}
