"""Nothing of Janus's outlives a room of ours: when an SFU room ends, whichever way its last peer went (it left,
its parked place expired, its worker died), its Janus room is destroyed, and with it any participant still in it
(the Janus session of a parked peer that never came back).

This listens to ``room_destroyed`` rather than living in the consumer because a room can end where no consumer
sees it: the registry's expiry of a parked peer sends that event too.
"""

from __future__ import annotations

import logging
from typing import Any

from django.dispatch import receiver

from signaling.policy import Topology, get_room_resolver
from signaling.sfu.janus import JanusError, JanusUnavailable
from signaling.sfu.service import get_sfu
from signaling.signals import room_destroyed

logger = logging.getLogger(__name__)


@receiver(room_destroyed, dispatch_uid="signaling.sfu.destroy_janus_room")
async def destroy_janus_room(sender: Any, room_id: str, **kwargs: Any) -> None:
    sfu = get_sfu()
    if sfu is None:
        return
    policy = await get_room_resolver().resolve(room_id)
    if policy is None or policy.topology != Topology.SFU:
        return  # a mesh room: Janus never had it
    try:
        await sfu.room_ended(room_id)
    except (JanusError, JanusUnavailable) as error:
        logger.warning("Destroying the SFU room of %s failed: %s", room_id, error)
