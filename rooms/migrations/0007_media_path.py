"""Sessions keep how their media went (``media_path``: direct, or through a TURN relay, as the client reported it),
with an index for the admin's filter, built without locking the table on PostgreSQL (hence ``atomic = False``);
events get the ``peer_path`` kind. The new column has a database default: adding it rewrites nothing."""

from django.db import migrations, models

from rooms.migration_operations import AddIndexConcurrently


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("rooms", "0006_peer_names_and_bans"),
    ]

    operations = [
        migrations.AddField(
            model_name="peersession",
            name="media_path",
            field=models.CharField(
                blank=True,
                choices=[("", "not reported"), ("direct", "direct"), ("relay", "through a TURN relay")],
                db_default="",
                help_text="How the peer's media went, as its client reported it: through a TURN relay if any of its "
                "connections did, else direct.",
                max_length=8,
            ),
        ),
        migrations.AlterField(
            model_name="roomevent",
            name="kind",
            field=models.CharField(
                choices=[
                    ("room_created", "room created"),
                    ("peer_joined", "peer joined"),
                    ("peer_left", "peer left"),
                    ("room_destroyed", "room destroyed"),
                    ("join_rejected", "join rejected"),
                    ("peer_path", "media path"),
                ],
                max_length=20,
            ),
        ),
        AddIndexConcurrently(
            model_name="peersession",
            index=models.Index(fields=["media_path", "joined_at", "id"], name="rooms_session_path_joined"),
        ),
    ]
