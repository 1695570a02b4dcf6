"""Connection test reports that visitors send for support staff (``ConnectionTest``): a new table, so its indexes
lock nothing that exists."""

import uuid

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("rooms", "0007_media_path"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ConnectionTest",
            fields=[
                (
                    "id",
                    models.UUIDField(
                        default=uuid.uuid4,
                        editable=False,
                        help_text="The reference the visitor was shown once the report was sent.",
                        primary_key=True,
                        serialize=False,
                        verbose_name="reference",
                    ),
                ),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "session_key",
                    models.CharField(
                        blank=True,
                        help_text="The visitor's Django session, which ties reports of one visitor together when nobody is logged in.",
                        max_length=40,
                    ),
                ),
                ("client_address", models.GenericIPAddressField(blank=True, null=True)),
                ("user_agent", models.CharField(blank=True, max_length=512)),
                (
                    "ok",
                    models.BooleanField(
                        help_text="Yes when no check failed (each passed or was not tested).", verbose_name="passed"
                    ),
                ),
                (
                    "checks",
                    models.JSONField(
                        blank=True,
                        default=list,
                        help_text="One entry per check: id, status (pass, fail, skip), message, and ms, rttMs or address.",
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="connection_tests",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at", "-id"],
                "indexes": [
                    models.Index(fields=["created_at", "id"], name="rooms_conntest_created"),
                    models.Index(fields=["ok", "created_at", "id"], name="rooms_conntest_ok_created"),
                    models.Index(fields=["user", "created_at", "id"], name="rooms_conntest_user_created"),
                    models.Index(fields=["session_key"], name="rooms_conntest_session"),
                    models.Index(fields=["client_address"], name="rooms_conntest_address"),
                ],
            },
        ),
    ]
