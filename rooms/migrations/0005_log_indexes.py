"""Indexes for every way the log is read, built without locking the tables on PostgreSQL.

The new composite indexes are built first (concurrently), then the single-column ones they replace are dropped
(concurrently), so no query goes without an index in between. Hence ``atomic = False``.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from rooms.migration_operations import AddIndexConcurrently, DropFieldIndexConcurrently, RemoveIndexConcurrently


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("rooms", "0004_room_ad_hoc"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterModelOptions(name="peersession", options={"ordering": ["-joined_at", "-id"]}),
        AddIndexConcurrently(
            model_name="peersession", index=models.Index(fields=["joined_at", "id"], name="rooms_session_joined")
        ),
        AddIndexConcurrently(
            model_name="peersession",
            index=models.Index(fields=["room", "joined_at", "id"], name="rooms_session_room_joined"),
        ),
        AddIndexConcurrently(
            model_name="peersession",
            index=models.Index(fields=["leave_reason", "joined_at", "id"], name="rooms_session_reason_joined"),
        ),
        AddIndexConcurrently(
            model_name="peersession",
            index=models.Index(
                fields=["joined_at", "id"], condition=models.Q(left_at__isnull=True), name="rooms_session_open_joined"
            ),
        ),
        AddIndexConcurrently(
            model_name="peersession", index=models.Index(fields=["client_address"], name="rooms_session_address")
        ),
        AddIndexConcurrently(model_name="roomevent", index=models.Index(fields=["at", "id"], name="rooms_event_at")),
        AddIndexConcurrently(
            model_name="roomevent", index=models.Index(fields=["room", "at", "id"], name="rooms_event_room_at")
        ),
        AddIndexConcurrently(
            model_name="roomevent", index=models.Index(fields=["kind", "at", "id"], name="rooms_event_kind_at")
        ),
        AddIndexConcurrently(model_name="roomevent", index=models.Index(fields=["peer_id"], name="rooms_event_peer")),
        RemoveIndexConcurrently(model_name="peersession", name="rooms_peers_room_id_0c2386_idx"),
        DropFieldIndexConcurrently(model_name="peersession", name="joined_at", field=models.DateTimeField()),
        DropFieldIndexConcurrently(
            model_name="peersession",
            name="room",
            field=models.ForeignKey(
                db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="sessions", to="rooms.room"
            ),
        ),
        DropFieldIndexConcurrently(model_name="roomevent", name="at", field=models.DateTimeField()),
        DropFieldIndexConcurrently(
            model_name="roomevent",
            name="kind",
            field=models.CharField(
                choices=[
                    ("room_created", "room created"),
                    ("peer_joined", "peer joined"),
                    ("peer_left", "peer left"),
                    ("room_destroyed", "room destroyed"),
                    ("join_rejected", "join rejected"),
                ],
                max_length=20,
            ),
        ),
        DropFieldIndexConcurrently(
            model_name="roomevent",
            name="room",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="events",
                to="rooms.room",
            ),
        ),
    ]
