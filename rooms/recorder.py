"""Records signaling's lifecycle signals as ``Room``, ``PeerSession`` and ``RoomEvent`` rows.

Receivers only append to a buffer; a task per event loop writes whatever has gathered in one transaction, in a
thread of its own, so a burst of joins costs a few batched writes instead of one write per event, and nothing
on the signaling side ever waits for the database.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import weakref
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import InterfaceError, OperationalError, connections, router, transaction

from rooms.conf import conf
from rooms.models import PeerSession, Room, RoomEvent
from signaling import signals

logger = logging.getLogger(__name__)

#: Attempts at writing one batch while the database is unreachable (with backoff) before it is logged as lost.
WRITE_ATTEMPTS = 5
# Errors that say the database could not be reached or was busy, not that a record was bad: worth retrying whole.
TRANSIENT_ERRORS = (OperationalError, InterfaceError)

Kind = RoomEvent.Kind
#: A member's new name (``peer_updated``): kept on its session, not a logged event (renames are not history).
RENAMED = "renamed"


@dataclass(frozen=True, slots=True)
class Record:
    kind: str
    fields: dict[str, Any]


# One thread, so batches are written in the order they were taken, on one database connection.
_writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rooms-recorder")


class EventRecorder:
    """Buffers lifecycle records and writes them in batches off the event loop."""

    def __init__(self) -> None:
        self._buffer: list[Record] = []
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0

    def add(self, record: Record) -> None:
        if len(self._buffer) >= conf.LOG_BUFFER_RECORDS:
            # The database has been away for long; what happens meanwhile is lost rather than held without bound.
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                logger.error(
                    "Room lifecycle log buffer full (%d records): %d records dropped so far",
                    len(self._buffer),
                    self.dropped,
                )
            return
        self._buffer.append(record)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._write_all())

    async def flush(self) -> None:
        """Wait until everything added so far is written."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def _write_all(self) -> None:
        loop = asyncio.get_running_loop()
        while self._buffer:
            # Whatever gathered while the previous batch was being written goes in the next one: the busier the
            # workers, the larger the batches.
            batch, self._buffer = self._buffer, []
            await self._write(loop, batch)

    async def _write(self, loop: asyncio.AbstractEventLoop, batch: list[Record]) -> None:
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                await loop.run_in_executor(_writer, write_batch, batch)
                return
            except TRANSIENT_ERRORS:
                # The connection may be what broke (a database restart): the next attempt opens a new one.
                await loop.run_in_executor(_writer, connections.close_all)
                if attempt == WRITE_ATTEMPTS:
                    logger.exception("Lost %d room lifecycle records after %d attempts", len(batch), attempt)
                    return
                logger.warning("Writing %d room lifecycle records failed; retrying", len(batch), exc_info=True)
                await asyncio.sleep(0.1 * 2**attempt)
            except Exception:
                # A record the database refuses spoils only itself: write the batch record by record, in order, so
                # that only that one is lost.
                if len(batch) == 1:
                    logger.exception("Dropped a room lifecycle record that cannot be written: %r", batch[0])
                    return
                for record in batch:
                    await self._write(loop, [record])
                return


#: Records that are not about a peer this server admitted just now (a refused join; what Janus said about a
#: connection): they give no room a row, and name a room only when it is stored.
NOT_ADMITTED = (Kind.JOIN_REJECTED, Kind.SFU_MEDIA)


def write_batch(records: Sequence[Record]) -> None:
    """Write one batch in one transaction (runs in the recorder's thread, on a connection it keeps: opening one per
    batch would cost more than the batch when events arrive one by one)."""
    with transaction.atomic(using=router.db_for_write(RoomEvent)):
        # Rooms that peers were admitted to exist by now; ad-hoc rooms get their row from their first event.
        first_seen: dict[str, datetime] = {}
        renames = [record for record in records if record.kind == RENAMED]
        records = [record for record in records if record.kind != RENAMED]
        for record in records:
            if record.kind not in NOT_ADMITTED:
                first_seen.setdefault(record.fields["room_id"], record.fields["at"])
        Room.objects.bulk_create(
            [Room(id=room_id, created_at=at, ad_hoc=True) for room_id, at in first_seen.items()], ignore_conflicts=True
        )
        named_rooms = {r.fields["room_id"] for r in records if r.kind in NOT_ADMITTED} - {None}
        stored = set(first_seen) | set(
            Room.objects.filter(id__in=named_rooms - set(first_seen)).values_list("id", flat=True)
        )

        sessions: dict[str, PeerSession] = {}
        departures: list[Record] = []
        events: list[RoomEvent] = []
        for record in records:
            fields = record.fields
            room_id = fields["room_id"]
            if record.kind == Kind.PEER_JOINED:
                sessions[fields["peer_id"]] = PeerSession(
                    peer_id=fields["peer_id"],
                    room_id=room_id,
                    user_id=fields["user_id"],
                    joined_at=fields["at"],
                    client_address=_ip_or_none(fields["client_address"]),
                    user_agent=fields["user_agent"],
                    display_name=fields.get("display_name", ""),
                    media_path=PeerSession.MediaPath.UNKNOWN,  # until its client reports one
                )
            elif record.kind == Kind.PEER_LEFT:
                session = sessions.get(fields["peer_id"])
                if session is None:
                    departures.append(record)
                else:
                    session.left_at, session.leave_reason = fields["at"], fields["reason"]
            events.append(
                RoomEvent(
                    room_id=room_id if room_id in stored else None,
                    kind=record.kind,
                    peer_id=fields.get("peer_id", ""),
                    at=fields["at"],
                    detail=_detail(record),
                )
            )
        latest_names: dict[str, str] = {}
        for record in renames:
            session = sessions.get(record.fields["peer_id"])
            if session is not None:
                session.display_name = record.fields["display_name"]
            else:
                latest_names[record.fields["peer_id"]] = record.fields["display_name"]
        later_paths: list[Record] = []
        for record in records:
            if record.kind == Kind.PEER_PATH:
                session = sessions.get(record.fields["peer_id"])
                if session is None:
                    later_paths.append(record)
                elif record.fields["relay"] or not session.media_path:
                    session.media_path = _media_path(record)
        PeerSession.objects.bulk_create(sessions.values())
        if departures:
            close_sessions(departures)
        for peer_id, name in latest_names.items():
            PeerSession.objects.filter(peer_id=peer_id).update(display_name=name)
        for record in later_paths:
            # Relay wins: a session whose media went through a relay on any connection stays "relay".
            sessions_of_peer = PeerSession.objects.filter(peer_id=record.fields["peer_id"])
            if not record.fields["relay"]:
                sessions_of_peer = sessions_of_peer.filter(media_path="")
            sessions_of_peer.update(media_path=_media_path(record))
        RoomEvent.objects.bulk_create(events)


def _media_path(record: Record) -> str:
    return PeerSession.MediaPath.RELAY if record.fields["relay"] else PeerSession.MediaPath.DIRECT


#: Departures dated by one UPDATE statement (three parameters each: well within every database's limit).
DEPARTURES_PER_STATEMENT = 1000


def close_sessions(departures: Sequence[Record]) -> None:
    """Date the departure of sessions written in earlier batches: one UPDATE joined to a list of values per thousand
    departures (Django's ``bulk_update`` writes a CASE over every row for every row, quadratic in the batch)."""
    leaving = {record.fields["peer_id"]: record.fields for record in departures}
    rows = [(peer_id, fields["at"], fields["reason"]) for peer_id, fields in leaving.items()]
    connection = connections[router.db_for_write(PeerSession)]
    table = connection.ops.quote_name(PeerSession._meta.db_table)
    # PostgreSQL reads the listed values as text unless told their type.
    stamp = "%s::timestamptz" if connection.vendor == "postgresql" else "%s"
    with connection.cursor() as cursor:
        for first in range(0, len(rows), DEPARTURES_PER_STATEMENT):
            chunk = rows[first : first + DEPARTURES_PER_STATEMENT]
            values = ", ".join(f"(%s, {stamp}, %s)" for _ in chunk)
            parameters: list[Any] = []
            for peer_id, at, reason in chunk:
                parameters += [peer_id, connection.ops.adapt_datetimefield_value(at), reason]
            cursor.execute(
                f"WITH departure (peer_id, left_at, reason) AS (VALUES {values}) "
                f"UPDATE {table} SET left_at = departure.left_at, leave_reason = departure.reason "
                f"FROM departure WHERE {table}.peer_id = departure.peer_id AND {table}.left_at IS NULL",
                parameters,
            )


def _detail(record: Record) -> dict[str, Any]:
    fields = record.fields
    if record.kind == Kind.PEER_LEFT:
        return {"reason": fields["reason"]}
    if record.kind == Kind.PEER_PATH:
        return {"remote_id": fields["remote_id"], "relay": fields["relay"], "protocol": fields["protocol"]}
    if record.kind == Kind.SFU_MEDIA:
        return {
            "event": fields["kind"],
            "connection": fields["connection"],
            "media": fields["media"],
            **fields["detail"],
        }
    if record.kind == Kind.JOIN_REJECTED:
        return {
            "room_id": fields["room_id"],
            "code": fields["code"],
            "message": fields["message"],
            "user_id": fields["user_id"],
            "client_address": fields["client_address"],
        }
    return {}


def _ip_or_none(value: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address(value)) if value else None
    except ValueError:
        return None


_recorders: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, EventRecorder] = weakref.WeakKeyDictionary()


def get_recorder() -> EventRecorder:
    """The recorder of the running event loop."""
    loop = asyncio.get_running_loop()
    recorder = _recorders.get(loop)
    if recorder is None:
        recorder = _recorders[loop] = EventRecorder()
    return recorder


def _receiver_for(kind: str) -> Any:
    async def record(sender: type, **fields: Any) -> None:
        fields.pop("signal", None)
        get_recorder().add(Record(kind, fields))

    record.__name__ = f"record_{kind}"
    return record


async def _flush_before_stopping(sender: Any, **kwargs: Any) -> None:
    """The worker is stopping (``signaling.signals.worker_stopping``, after a drain): write what is buffered."""
    await get_recorder().flush()


signals.worker_stopping.connect(_flush_before_stopping, weak=False, dispatch_uid="rooms.recorder.flush")

for _signal, _kind in (
    (signals.room_created, Kind.ROOM_CREATED),
    (signals.peer_joined, Kind.PEER_JOINED),
    (signals.peer_left, Kind.PEER_LEFT),
    (signals.room_destroyed, Kind.ROOM_DESTROYED),
    (signals.join_rejected, Kind.JOIN_REJECTED),
    (signals.peer_updated, RENAMED),
    (signals.peer_path, Kind.PEER_PATH),
    (signals.sfu_media, Kind.SFU_MEDIA),
):
    _signal.connect(_receiver_for(_kind), weak=False, dispatch_uid=f"rooms.recorder.{_kind}")
