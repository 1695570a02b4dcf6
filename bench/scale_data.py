"""A lifecycle log the size of a site that has run for three months, written straight into PostgreSQL.

At factor 1: 20,000 rooms, 1,000,000 peer sessions, about 4,000,000 room events, 5,000 recordings and 2,000 users,
spread over 90 days with ids in time order (as the recorder appends them). Rooms are busy unevenly: ``room-0`` holds
about a twelfth of all sessions, most rooms a handful; ``quiet-room`` saw 50 sessions 60 days ago and nothing since,
while the others stayed busy. The sessions of the last half hour are still open.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connections, transaction

QUIET_ROOM = "quiet-room"
BUSY_ROOM = "room-0"


@dataclass(frozen=True)
class Volume:
    rooms: int
    sessions: int
    recordings: int
    users: int

    @classmethod
    def at(cls, factor: float) -> Volume:
        return cls(
            rooms=max(int(20_000 * factor), 20),
            sessions=max(int(1_000_000 * factor), 1_000),
            recordings=max(int(5_000 * factor), 5),
            users=max(int(2_000 * factor), 20),
        )


def load(volume: Volume, using: str = "default", seed: float = 0.42) -> None:
    """Fill an empty, migrated database (PostgreSQL) with the log; then vacuum and analyze it as autovacuum would.
    The same seed draws the same log."""
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        cursor.execute("SELECT setseed(%s)", [seed])
        cursor.execute(
            """
            INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff,
                                   is_active, date_joined)
            SELECT '!', false, 'user' || g, '', '', '', false, true, now() - interval '100 days'
            FROM generate_series(1, %(users)s) g
            """,
            {"users": volume.users},
        )
        cursor.execute(
            """
            INSERT INTO rooms_room (id, name, max_peers, is_open, access, ad_hoc, created_at, updated_at)
            SELECT 'room-' || g, 'Room number ' || g, NULL::smallint, true, 'anonymous', g %% 3 = 0,
                   now() - interval '91 days' + interval '1 second' * g, now() - interval '91 days'
            FROM generate_series(0, %(rooms)s - 1) g
            UNION ALL
            SELECT %(quiet)s, 'A quiet room', NULL, true, 'anonymous', false, now() - interval '91 days',
                   now() - interval '91 days'
            """,
            {"rooms": volume.rooms, "quiet": QUIET_ROOM},
        )
        cursor.execute("SELECT min(id), max(id) FROM auth_user WHERE username LIKE 'user%%'")
        first_user, _ = cursor.fetchone()
        # Sessions in time order; the room of each drawn so that a few rooms are busy and most are quiet.
        cursor.execute(
            """
            INSERT INTO rooms_peersession (peer_id, room_id, user_id, joined_at, left_at, leave_reason,
                                           client_address, user_agent)
            SELECT 'peer-' || substr(md5(g::text), 1, 16),
                   CASE WHEN g <= 50 THEN %(quiet)s ELSE 'room-' || floor(%(rooms)s * power(random(), 4))::int END,
                   CASE WHEN random() < 0.3 THEN %(first_user)s + floor(random() * %(users)s)::int END,
                   joined,
                   CASE WHEN joined < now() - interval '30 minutes' THEN joined + interval '1 second' * stay END,
                   CASE WHEN joined < now() - interval '30 minutes'
                       THEN (ARRAY['leave', 'leave', 'leave', 'disconnect', 'disconnect', 'timeout'])[1 + g %% 6]
                       ELSE '' END,
                   ('10.' || (g %% 250) || '.' || ((g / 250) %% 250) || '.' || (1 + g %% 200))::inet,
                   'Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0 Safari/537.36'
            FROM (
                SELECT g, 30 + random() * 3600 AS stay,
                       CASE WHEN g <= 50 THEN now() - interval '60 days' - interval '1 hour' * random()
                            ELSE now() - interval '90 days' * random() END AS joined
                FROM generate_series(1, %(sessions)s) g
            ) drawn
            ORDER BY joined
            """,
            {
                "quiet": QUIET_ROOM,
                "rooms": volume.rooms,
                "first_user": first_user,
                "users": volume.users,
                "sessions": volume.sessions,
            },
        )
        # A few sessions were kicked or ended by a room closing: rare values the filters must still find fast.
        for reason, every in (("kicked", 997), ("room-closed", 1999)):
            cursor.execute(
                "UPDATE rooms_peersession SET leave_reason = %(reason)s "
                "WHERE id %% %(every)s = 0 AND left_at IS NOT NULL",
                {"reason": reason, "every": every},
            )
        # Four events a session: the call's room coming to life and ending around each stay, the join and the
        # departure; one rejected join in fifty.
        cursor.execute(
            """
            INSERT INTO rooms_roomevent (room_id, kind, peer_id, at, detail)
            SELECT room_id, kind, peer_id, at, detail FROM (
                SELECT room_id, 'room_created' AS kind, '' AS peer_id, joined_at - interval '1 millisecond' AS at,
                       '{}'::jsonb AS detail
                FROM rooms_peersession
                UNION ALL
                SELECT room_id, 'peer_joined', peer_id, joined_at, '{}'::jsonb FROM rooms_peersession
                UNION ALL
                SELECT room_id, 'peer_left', peer_id, left_at, jsonb_build_object('reason', leave_reason)
                FROM rooms_peersession WHERE left_at IS NOT NULL
                UNION ALL
                SELECT room_id, 'room_destroyed', '', left_at + interval '1 millisecond', '{}'::jsonb
                FROM rooms_peersession WHERE left_at IS NOT NULL
                UNION ALL
                SELECT NULL, 'join_rejected', '', joined_at + interval '2 milliseconds',
                       jsonb_build_object('room_id', room_id, 'code', 'room-full', 'message', 'The room is full.',
                                          'user_id', NULL, 'client_address', host(client_address))
                FROM rooms_peersession WHERE id %% 50 = 0
            ) events
            ORDER BY at
            """,
            {},
        )
        cursor.execute(
            """
            INSERT INTO rooms_recording (id, room_id, owner_id, filename, mime_type, stream_id, duration, size, sha256,
                                         received, status, file, created_at, completed_at)
            SELECT md5('recording' || g)::uuid, 'room-' || floor(%(rooms)s * power(random(), 2))::int,
                   %(first_user)s + g %% %(users)s, 'call-' || g || '.webm', 'video/webm', 'local', 60 + g %% 600,
                   1000000 + g, md5(g::text) || md5(g::text), 1000000 + g, 'complete',
                   'recordings/room/' || md5('recording' || g)::uuid || '.webm',
                   now() - interval '90 days' * (g::float / %(recordings)s),
                   now() - interval '90 days' * (g::float / %(recordings)s)
            FROM generate_series(1, %(recordings)s) g
            """,
            {"rooms": volume.rooms, "first_user": first_user, "users": volume.users, "recordings": volume.recordings},
        )
    vacuum_analyze(using)


def vacuum_analyze(using: str = "default") -> None:
    with connections[using].cursor() as cursor:
        for table in ("auth_user", "rooms_room", "rooms_peersession", "rooms_roomevent", "rooms_recording"):
            cursor.execute(f"VACUUM ANALYZE {table}")


def counts(using: str = "default") -> dict[str, int]:
    with connections[using].cursor() as cursor:
        result = {}
        for table in ("rooms_room", "rooms_peersession", "rooms_roomevent", "rooms_recording"):
            cursor.execute(f"SELECT count(*) FROM {table}")
            result[table] = int(cursor.fetchone()[0])
        return result
