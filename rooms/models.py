from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from rooms.logqueries import MAX_MATCHED_ROOMS, LogQuerySet
from signaling.policy import Access, Topology
from signaling.protocol import ROOM_ID_PATTERN, LeaveReason

room_id_validator = RegexValidator(rf"\A{ROOM_ID_PATTERN.pattern}\Z", "1 to 128 letters, digits, or any of - _ . :")


class Room(models.Model):
    """A room peers join by its id; created on first join when ad-hoc rooms are allowed."""

    id = models.CharField("room id", primary_key=True, max_length=128, validators=[room_id_validator])
    name = models.CharField(max_length=200, blank=True)
    max_peers = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)], help_text="Empty: the endpoint's default."
    )
    is_open = models.BooleanField("open", default=True, help_text="A closed room refuses joins.")
    access = models.CharField(
        max_length=16,
        choices=[(access.value, access.value) for access in Access],
        default=Access.ANONYMOUS.value,
        # Also a database default: rows inserted by SQL (scripts, other services) are anonymous rooms.
        db_default=Access.ANONYMOUS.value,
        help_text="anonymous: anyone; authenticated: logged-in users or a room token; token: a room token only.",
    )
    topology = models.CharField(
        max_length=8,
        choices=[(topology.value, topology.value) for topology in Topology],
        default=Topology.MESH.value,
        db_default=Topology.MESH.value,
        help_text="mesh: every browser connects to every other (up to 4 to 6 with video); sfu: media goes through "
        "the SFU (Janus), for larger rooms.",
    )
    allowed_users = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="private_rooms",
        help_text="Who may obtain a token for a token-only room (staff always may).",
    )
    ad_hoc = models.BooleanField(
        "ad hoc",
        default=False,
        db_default=False,
        help_text="Came to life with a join rather than being stored: listed to staff only, and removed by "
        "`manage.py prune_rooms` once it has been quiet for ROOMS['AD_HOC_ROOM_RETENTION_DAYS']. Saving the room "
        "here keeps it.",
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name or self.id


def rooms_matching(term: str) -> list[str]:
    """Ids of the rooms a search term names: the id itself, ids beginning with it, names containing it."""
    return list(
        Room.objects.filter(Q(pk__startswith=term) | Q(name__icontains=term))
        .order_by()
        .values_list("pk", flat=True)[:MAX_MATCHED_ROOMS]
    )


class PeerSession(models.Model):
    """One peer's stay in a room, from join to leave."""

    peer_id = models.CharField(max_length=64, unique=True)
    # Indexed by the composite indexes below, which every query of a room's sessions uses.
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="sessions", db_index=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="peer_sessions"
    )
    joined_at = models.DateTimeField()
    left_at = models.DateTimeField(null=True, blank=True)
    leave_reason = models.CharField(max_length=20, blank=True, choices=[(r.value, r.value) for r in LeaveReason])
    client_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    display_name = models.CharField(
        "name",
        max_length=150,
        blank=True,
        db_default="",
        help_text="The name the peer went by (its metadata's name; set by the server for logged-in users).",
    )

    class MediaPath(models.TextChoices):
        UNKNOWN = "", "not reported"
        DIRECT = "direct", "direct"
        RELAY = "relay", "through a TURN relay"

    media_path = models.CharField(
        max_length=8,
        blank=True,
        db_default="",
        choices=MediaPath.choices,
        help_text="How the peer's media went, as its client reported it: through a TURN relay if any of its "
        "connections did, else direct.",
    )

    objects = LogQuerySet["PeerSession"].as_manager()

    class Meta:
        ordering = ["-joined_at", "-id"]
        # One index per way the log is read (admin, REST API, recorder, retention), each ending in the order it is
        # listed in, so that a page of the newest rows is a short walk of one index at any table size.
        indexes = [
            models.Index(fields=["joined_at", "id"], name="rooms_session_joined"),
            models.Index(fields=["room", "joined_at", "id"], name="rooms_session_room_joined"),
            models.Index(fields=["leave_reason", "joined_at", "id"], name="rooms_session_reason_joined"),
            models.Index(fields=["media_path", "joined_at", "id"], name="rooms_session_path_joined"),
            models.Index(
                fields=["joined_at", "id"], condition=models.Q(left_at__isnull=True), name="rooms_session_open_joined"
            ),
            models.Index(fields=["client_address"], name="rooms_session_address"),
        ]

    def __str__(self) -> str:
        return f"{self.peer_id} in {self.room_id}"

    @property
    def is_active(self) -> bool:
        return self.left_at is None


class RoomBan(models.Model):
    """A user who may not join a room until ``until`` (a moderator's kick with a ban). Only logged-in users and
    room-token users issued to a user can be banned: an anonymous visitor has nothing that outlives its socket."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="bans")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="room_bans")
    until = models.DateTimeField(help_text="The user may join again from then on.")
    reason = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-until"]
        indexes = [models.Index(fields=["room", "until"], name="rooms_ban_room_until")]

    def __str__(self) -> str:
        return f"{self.user} banned from {self.room_id} until {self.until:%Y-%m-%d %H:%M}"

    @property
    def is_active(self) -> bool:
        return self.until > timezone.now()


class RoomEvent(models.Model):
    """One lifecycle event, as it happened; never edited."""

    class Kind(models.TextChoices):
        ROOM_CREATED = "room_created", "room created"
        PEER_JOINED = "peer_joined", "peer joined"
        PEER_LEFT = "peer_left", "peer left"
        ROOM_DESTROYED = "room_destroyed", "room destroyed"
        JOIN_REJECTED = "join_rejected", "join rejected"
        PEER_PATH = "peer_path", "media path"
        SFU_MEDIA = "sfu_media", "SFU media"

    # Null for a rejected join that named no stored room (the requested id is in ``detail``).
    room = models.ForeignKey(
        Room, on_delete=models.CASCADE, null=True, blank=True, related_name="events", db_index=False
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    peer_id = models.CharField(max_length=64, blank=True)
    at = models.DateTimeField()
    detail = models.JSONField(default=dict, blank=True)

    objects = LogQuerySet["RoomEvent"].as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        # As for sessions: every list of events is newest first, so each index ends in (at, id).
        indexes = [
            models.Index(fields=["at", "id"], name="rooms_event_at"),
            models.Index(fields=["room", "at", "id"], name="rooms_event_room_at"),
            models.Index(fields=["kind", "at", "id"], name="rooms_event_kind_at"),
            models.Index(fields=["peer_id"], name="rooms_event_peer"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.room_id or ''}".strip()


class Recording(models.Model):
    """A recording uploaded from the browser, in chunks; it is a finished file only once every byte arrived and
    its checksum matched."""

    class Status(models.TextChoices):
        UPLOADING = "uploading"
        COMPLETE = "complete"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="recordings")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="recordings")
    filename = models.CharField(max_length=255, help_text="The uploader's name for it; stored under a name of ours.")
    mime_type = models.CharField("MIME type", max_length=100)
    stream_id = models.CharField(max_length=64, blank=True, help_text="'local' or the peer id that was recorded.")
    duration = models.FloatField(null=True, blank=True, help_text="Seconds, as the uploader measured them.")
    size = models.PositiveBigIntegerField(help_text="Bytes, as declared when the upload began.")
    sha256 = models.CharField("SHA-256", max_length=64, help_text="Of the whole file, as declared by the uploader.")
    received = models.PositiveBigIntegerField(default=0, help_text="Bytes stored so far.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.UPLOADING, db_index=True)
    file = models.FileField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.filename} ({self.room_id})"


class ConnectionTest(models.Model):
    """The results of a connection test a visitor ran (the browser client's ``testConnection()``) and chose to send
    to the site, for its support staff: what worked and what did not between that browser and this site's
    signaling, STUN and TURN servers. Written once, never edited."""

    class Status(models.TextChoices):
        PASS = "pass", "passed"
        FAIL = "fail", "failed"
        SKIP = "skip", "not tested"

    id = models.UUIDField(
        "reference",
        primary_key=True,
        default=uuid.uuid4,
        editable=False,
        help_text="The reference the visitor was shown once the report was sent.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="connection_tests"
    )
    session_key = models.CharField(
        max_length=40,
        blank=True,
        help_text="The visitor's Django session, which ties reports of one visitor together when nobody is logged in.",
    )
    client_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    ok = models.BooleanField("passed", help_text="Yes when no check failed (each passed or was not tested).")
    checks = models.JSONField(
        default=list,
        blank=True,
        help_text="One entry per check: id, status (pass, fail, skip), message, and ms, rttMs or address.",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["created_at", "id"], name="rooms_conntest_created"),
            models.Index(fields=["ok", "created_at", "id"], name="rooms_conntest_ok_created"),
            models.Index(fields=["user", "created_at", "id"], name="rooms_conntest_user_created"),
            models.Index(fields=["session_key"], name="rooms_conntest_session"),
            models.Index(fields=["client_address"], name="rooms_conntest_address"),
        ]

    def __str__(self) -> str:
        return f"Connection test {self.pk} ({'passed' if self.ok else 'failed'})"

    def reported(self, check_id: str) -> dict[str, Any]:
        """One check (``"stun"``, ``"turn-udp"`` ...) as reported; ``{}`` when the report has none."""
        return next((check for check in self.checks if check.get("id") == check_id), {})

    def check_status(self, check_id: str) -> str:
        """The status of one check, ``"skip"`` when the report has none."""
        return str(self.reported(check_id).get("status", "skip"))
