"""This worker's link to the SFU (``SIGNALING["SFU_JANUS_URL"]``): one connection to Janus per event loop, and one
handle of its own for the requests about rooms (create, destroy, kick). ``get_sfu()`` is None where no SFU is
configured."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable

from django.core.signals import setting_changed
from django.dispatch import receiver

from signaling import metrics
from signaling.conf import conf
from signaling.sfu.janus import JanusConnection, JanusError, JanusSession, JanusUnavailable
from signaling.sfu.member import SfuMember
from signaling.sfu.videoroom import VideoRoomAdmin

logger = logging.getLogger(__name__)


class SfuService:
    def __init__(self, url: str, api_secret: str, admin_key: str) -> None:
        self.connection = JanusConnection(url, api_secret)
        self.admin_key = admin_key
        self._admin: VideoRoomAdmin | None = None
        self._session: JanusSession | None = None
        self._lock = asyncio.Lock()

    async def admin(self) -> VideoRoomAdmin:
        """The handle for room requests, made on first use (and again after Janus came back)."""
        async with self._lock:
            if self._admin is None or self.connection.closed:
                if self._session is not None:
                    self._session.stop_keepalive()  # the session went with the connection it was made on
                self._session = await self.connection.create_session()
                self._session.keep_alive()
                self._admin = VideoRoomAdmin(await self._session.attach(), self.admin_key)
            return self._admin

    async def ping(self) -> bool:
        """Whether Janus answers now (counted in ``signaling_sfu_up``)."""
        try:
            await self.connection.request({"janus": "ping"})
        except (JanusError, JanusUnavailable):
            metrics.SFU_UP.set(0)
            return False
        metrics.SFU_UP.set(1)
        return True

    async def member(
        self,
        room_id: str,
        peer_id: str,
        publishers: int,
        send: Callable[[str], Awaitable[None]],
        on_lost: Callable[[], Awaitable[None]] | None = None,
    ) -> SfuMember:
        """A member for ``peer_id`` in the Janus room of ``room_id`` (made if need be), not joined yet."""
        admin = await self.admin()
        room = await admin.ensure(room_id, publishers)
        return SfuMember(self.connection, room, peer_id, send, on_lost)

    async def resumed_member(
        self,
        room_id: str,
        peer_id: str,
        publishers: int,
        send: Callable[[str], Awaitable[None]],
        on_lost: Callable[[], Awaitable[None]] | None,
        handoff: str,
        display: str = "",
    ) -> tuple[SfuMember, bool]:
        """The member of a resumed peer, and whether it took over the Janus session its last connection handed on
        (``handoff``; its media went on). Otherwise (nothing handed on, or Janus ended that session meanwhile) it
        has joined anew under the same peer id, and the client must publish and subscribe again."""
        member = await self.member(room_id, peer_id, publishers, send, on_lost)
        admin = await self.admin()
        taken = _handed_on(handoff)
        if taken is not None:
            present = [str(entry["id"]) for entry in await admin.participants(room_id) if entry.get("publisher")]
            try:
                await member.take_over(taken, present)
                return member, True
            except JanusError as error:
                logger.info("Could not take over the SFU session of %s (%s); it joins anew", peer_id, error)
                await member.let_go()
        # The old session may still be in the room under this peer id (its worker died): it makes way.
        await admin.kick(room_id, peer_id)
        await member.join(display)
        return member, False

    async def room_ended(self, room_id: str) -> None:
        """The room ended (``sfu.room_end``): its Janus room goes too, with any participant left in it."""
        await (await self.admin()).destroy(room_id)

    async def kick(self, room_id: str, peer_id: str) -> None:
        await (await self.admin()).kick(room_id, peer_id)


_services: dict[asyncio.AbstractEventLoop, SfuService] = {}


def _handed_on(handoff: str) -> dict[str, object] | None:
    """A handoff of ``SfuMember.handoff()``; None for none (or, defensively, for one that does not read)."""
    if not handoff:
        return None
    try:
        taken = json.loads(handoff)
    except ValueError:
        return None
    if not isinstance(taken, dict) or not all(isinstance(taken.get(key), int) for key in ("session", "publisher")):
        return None
    return taken


def sfu_capacity(stored: int | None) -> int:
    """How many peers an SFU room admits: its stored capacity, else ``SFU_MAX_PEERS``, and never more than that."""
    return min(stored or conf.SFU_MAX_PEERS, conf.SFU_MAX_PEERS)


def get_sfu() -> SfuService | None:
    """The SFU of the running event loop; None when none is configured."""
    url, secret, key = conf.SFU_JANUS_URL, conf.SFU_API_SECRET, conf.SFU_ADMIN_KEY
    if url is None or secret is None or key is None:
        return None
    loop = asyncio.get_running_loop()
    service = _services.get(loop)
    if service is None:
        service = _services[loop] = SfuService(url, secret, key)
    return service


@receiver(setting_changed)
def _reset(*, setting: str, **kwargs: object) -> None:
    if setting == "SIGNALING":
        _services.clear()
