"""Prometheus metrics of one worker process (``prometheus_client``'s default registry).

Names and labels follow Prometheus' conventions: a ``signaling_`` prefix, ``_total`` on counters, base units
(seconds), and labels with a small fixed set of values only (no room or peer ids). Gauges of live state are read
when scraped, so the relay path pays only for its counters. ``signaling.views.metrics`` serves them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

#: How a join ended: ``joined`` or the error code it was refused with.
JOINS = Counter("signaling_joins_total", "Joins by outcome: joined, or the error code of the refusal.", ["outcome"])
#: How a ``join`` carrying a ``resume`` token ended.
RESUMES = Counter(
    "signaling_resumes_total",
    "Joins carrying a resume token by outcome: same_worker, other_worker; ended (a moderator kicked the peer or "
    "closed its room while it was away: told so, and closed); or expired (the peer had left) and invalid "
    "(tampered, or for another room), after which an ordinary join followed.",
    ["outcome"],
)
RELAYED = Counter(
    "signaling_relayed_messages_total",
    "Frames delivered to other peers (relayed sdp and ice, arrival and departure notices): local (written to a "
    "socket on this worker) or cross_worker (published through Redis to another worker, once per worker).",
    ["path"],
)
MEDIA_PATHS = Counter(
    "signaling_media_paths_total",
    "Peer connections by the media path their clients report: relay (with the protocol to the TURN server: udp, "
    "tcp, tls) or direct; counted each time a connection's path changes.",
    ["path", "protocol"],
)
CROSS_WORKER_RETRIED = Counter(
    "signaling_cross_worker_retried_total", "Batches for another worker published again after a Redis error."
)
CROSS_WORKER_DROPPED = Counter(
    "signaling_cross_worker_dropped_total",
    "Frames for another worker given up: Redis unreachable past the retry time, a full buffer, or unserializable.",
)
EVICTIONS = Counter("signaling_evictions_total", "Members whose stay a moderator ended, by reason.", ["reason"])
REDIS_ERRORS = Counter("signaling_redis_errors_total", "Redis commands of the registry that failed.")
SLOW_READERS = Counter("signaling_slow_readers_total", "Sockets cut off for leaving too much unread (close 4013).")
HANDSHAKE_TIMEOUTS = Counter(
    "signaling_handshake_timeouts_total",
    "Connections dropped for not sending a whole request head within HANDSHAKE_TIMEOUT (under daphne).",
)
SOCKETS_REFUSED = Counter(
    "signaling_sockets_refused_total", "Sockets refused at the door by a limit, by close code.", ["code"]
)
JOIN_LATENCY = Histogram(
    "signaling_join_latency_seconds",
    "From a join frame's arrival to its joined reply.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
CROSS_WORKER_LATENCY = Histogram(
    "signaling_cross_worker_delivery_seconds",
    "From a batch's publication by one worker to its arrival at another (wall clocks of both workers).",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
RELAYED_LOCAL = RELAYED.labels("local")
RELAYED_CROSS_WORKER = RELAYED.labels("cross_worker")
PEERS = Gauge("signaling_peers", "Peers whose socket is on this worker (parked ones included).")
ROOMS = Gauge("signaling_rooms", "Rooms with at least one peer on this worker.")
PARKED = Gauge(
    "signaling_parked_peers",
    "Peers whose socket dropped, waiting to resume: on this worker (in-process registry) or site-wide (Redis).",
)
SOCKETS = Gauge("signaling_sockets", "Signaling sockets open on this worker.")
DRAINING = Gauge("signaling_draining", "1 while this worker drains for a shutdown, else 0.")
SFU_EVENTS = Counter(
    "signaling_sfu_events_total",
    "Janus's events about our peers' connections that reached the lifecycle log, by kind (media-up, media-lost, "
    "slow-link, hangup).",
    ["kind"],
)
SFU_TAKEOVERS = Counter(
    "signaling_sfu_resumes_total",
    "Resumes of peers in SFU rooms by what became of their Janus session: kept (taken over, media went on) or new "
    "(Janus had ended it, or it was not handed on: the client published and subscribed again).",
    ["session"],
)
SFU_UP = Gauge(
    "signaling_sfu_up", "1 when this worker's last request to the SFU (Janus) was answered, 0 when not; SFU rooms only."
)
SFU_NODE_UP = Gauge(
    "signaling_sfu_node_up", "1 when this worker's last request to the SFU node was answered, 0 when not.", ["node"]
)
SFU_MOVES = Counter(
    "signaling_sfu_moves_total",
    "Peers of this worker moved to another SFU node with their room, by why: node-lost (the node went or stopped "
    "answering) or moved (the room was moved: a drain).",
    ["reason"],
)


class SfuNodesCollector(Collector):
    """Each SFU node's rooms, peers and state, from the shared placement (what every worker sees), at each scrape:
    ``signaling_sfu_node_rooms``, ``signaling_sfu_node_peers``, ``signaling_sfu_node_state`` (1 for its state)."""

    def __init__(self, read: Callable[[], Mapping[str, Any]]) -> None:
        self.read = read

    def describe(self) -> list[Metric]:
        return []  # read at scrape time only: nothing is read when the collector is registered

    def collect(self) -> Iterator[Metric]:
        try:
            loads = self.read()
        except Exception:  # an unreachable registry leaves these out of the scrape, not the others
            return
        rooms = GaugeMetricFamily("signaling_sfu_node_rooms", "SFU rooms placed on the node.", labels=["node"])
        peers = GaugeMetricFamily("signaling_sfu_node_peers", "Peers in the rooms placed on the node.", labels=["node"])
        state = GaugeMetricFamily(
            "signaling_sfu_node_state", "1 for the node's state: up, down or draining.", labels=["node", "state"]
        )
        for name, load in loads.items():
            rooms.add_metric([name], len(load.rooms))
            peers.add_metric([name], load.peers)
            for each in ("up", "down", "draining"):
                state.add_metric([name, each], 1 if load.state == each else 0)
        yield from (rooms, peers, state)


def observe_sfu_nodes(read: Callable[[], Mapping[str, Any]]) -> None:
    """Read the SFU nodes' gauges from ``read`` (node name -> ``NodeLoad``) at each scrape."""
    REGISTRY.register(SfuNodesCollector(read))


def observe_live_state(
    peers: Callable[[], float],
    rooms: Callable[[], float],
    parked: Callable[[], float],
    sockets: Callable[[], float],
    draining: Callable[[], float],
) -> None:
    """Read the live gauges from these functions at each scrape."""
    PEERS.set_function(peers)
    ROOMS.set_function(rooms)
    PARKED.set_function(parked)
    SOCKETS.set_function(sockets)
    DRAINING.set_function(draining)
