"""How rooms, their events and room tokens look in the REST API."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions, serializers
from rest_framework.reverse import reverse

from rooms.bans import MAX_BAN_MINUTES
from rooms.conf import conf
from rooms.models import PeerSession, Recording, Room, RoomEvent
from rooms.permissions import rooms_visible_to
from rooms.uploads import declared_container
from signaling import live
from signaling.protocol import PeerRole


class RoomSerializer(serializers.ModelSerializer[Room]):
    """A stored room, with its live peer count from the signaling registry (null when it cannot be reached)."""

    live_peers = serializers.SerializerMethodField(help_text="Peers in the room now; null if unknown.")
    effective_max_peers = serializers.SerializerMethodField(
        help_text="The capacity joins meet: max_peers, or the endpoint's default when max_peers is null (for an "
        "sfu room, SIGNALING['SFU_MAX_PEERS'], which also bounds max_peers)."
    )

    class Meta:
        model = Room
        fields = [
            "id",
            "name",
            "max_peers",
            "effective_max_peers",
            "is_open",
            "access",
            "topology",
            "ad_hoc",
            "created_at",
            "updated_at",
            "live_peers",
        ]
        read_only_fields = ["ad_hoc", "created_at", "updated_at"]

    def get_live_peers(self, room: Room) -> int | None:
        counts: dict[str, int] | None = self.context.get("live_counts")
        return None if counts is None else counts.get(room.pk, 0)

    def get_effective_max_peers(self, room: Room) -> int:
        return live.capacity_of(room.max_peers, room.topology)[0]

    def validate_id(self, value: str) -> str:
        if self.instance is not None and value != self.instance.pk:
            raise serializers.ValidationError("A room's id cannot change.")
        return value


class RoomDetailSerializer(RoomSerializer):
    """A room with the ids of its current peers (for staff; others see the count only)."""

    peers = serializers.SerializerMethodField(help_text="Peer ids in the room now (staff only; null otherwise).")
    peer_names = serializers.SerializerMethodField(
        help_text="The name each peer in the room goes by, by peer id (staff only; null otherwise). A peer that gave "
        "no name, or that the log has not recorded yet, is absent."
    )

    class Meta(RoomSerializer.Meta):
        fields = [*RoomSerializer.Meta.fields, "peers", "peer_names"]

    def get_peers(self, room: Room) -> list[str] | None:
        peers: list[str] | None = self.context.get("peers")
        return peers

    def get_peer_names(self, room: Room) -> dict[str, str] | None:
        peers: list[str] | None = self.context.get("peers")
        if peers is None:
            return None
        sessions = PeerSession.objects.filter(room=room, peer_id__in=peers).exclude(display_name="")
        return dict(sessions.values_list("peer_id", "display_name"))


class RoomEventSerializer(serializers.ModelSerializer[RoomEvent]):
    class Meta:
        model = RoomEvent
        fields = ["id", "kind", "peer_id", "at", "detail"]


class RoomEventPageSerializer(serializers.Serializer[Any]):
    """A page of a room's events; no count (a busy room's would cost a scan): follow ``next`` until it is null."""

    next = serializers.URLField(allow_null=True, help_text="The page of older events; null on the last page.")
    previous = serializers.URLField(allow_null=True, help_text="The page of newer events; null on the first page.")
    results = RoomEventSerializer(many=True)


class KickSerializer(serializers.Serializer[Any]):
    peer_id = serializers.CharField(max_length=64)
    ban_minutes = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_BAN_MINUTES,
        help_text="Also ban the peer's user from the room for this long (not possible for anonymous peers).",
    )
    reason = serializers.CharField(required=False, max_length=200, default="", help_text="Why (kept with the ban).")


class KickResultSerializer(serializers.Serializer[Any]):
    kicked = serializers.BooleanField()
    banned_until = serializers.DateTimeField(required=False, help_text="When the ban ends (only with ban_minutes).")


class CloseResultSerializer(serializers.Serializer[Any]):
    closed_peers = serializers.IntegerField(help_text="How many peers were in the room and had their stay ended.")


class RecordResultSerializer(serializers.Serializer[Any]):
    recorders = serializers.IntegerField(help_text="Recorders started (POST) or stopped (DELETE).")


class RoomTokenRequestSerializer(serializers.Serializer[Any]):
    role = serializers.ChoiceField(
        choices=[role.value for role in PeerRole],
        required=False,
        allow_blank=True,
        help_text=(
            "recorder or agent (staff only): the token's holder joins in an extra seat; viewer (SFU rooms only): "
            "it takes a participant's seat but cannot publish."
        ),
    )


class RoomTokenSerializer(serializers.Serializer[Any]):
    token = serializers.CharField(help_text="Send it as join.token, or as ?token= on the socket URL.")
    room_id = serializers.CharField()
    expires_at = serializers.DateTimeField()
    role = serializers.CharField(allow_null=True, help_text="The role the token joins with; null: a participant.")


class VisibleRoomField(serializers.PrimaryKeyRelatedField):  # type: ignore[type-arg]
    """A room the requesting user may see; any other id reads as unknown."""

    default_error_messages = {"does_not_exist": "No such room.", "incorrect_type": "A room id is a string."}

    def get_queryset(self) -> Any:
        return rooms_visible_to(self.context["request"].user)


class RecordingSerializer(serializers.ModelSerializer[Recording]):
    """A recording. Created with what the uploader knows of the file (name, type, size, SHA-256); its bytes then
    go to ``content`` in chunks, and ``received`` says how far the upload has come."""

    room = VisibleRoomField()
    owner: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(slug_field="username", read_only=True)
    upload_url = serializers.SerializerMethodField(help_text="PUT the bytes here, with an Upload-Offset header.")
    download_url = serializers.SerializerMethodField(help_text="The finished file; null until complete.")

    class Meta:
        model = Recording
        fields = [
            "id",
            "room",
            "owner",
            "filename",
            "mime_type",
            "stream_id",
            "duration",
            "size",
            "sha256",
            "received",
            "status",
            "created_at",
            "completed_at",
            "upload_url",
            "download_url",
        ]
        read_only_fields = ["received", "status", "created_at", "completed_at"]

    def get_upload_url(self, recording: Recording) -> str:
        return reverse("rooms-api:recording-content", args=[recording.pk], request=self.context.get("request"))

    def get_download_url(self, recording: Recording) -> str | None:
        if recording.status != Recording.Status.COMPLETE:
            return None
        return reverse("rooms-api:recording-download", args=[recording.pk], request=self.context.get("request"))

    def validate_filename(self, value: str) -> str:
        if "/" in value or "\\" in value or value in (".", "..") or any(ord(c) < 32 for c in value):
            raise serializers.ValidationError("A file name only, without folders or control characters.")
        return value

    def validate_mime_type(self, value: str) -> str:
        # Sent back as the download's Content-Type: printable ASCII only (no CR/LF, no control characters).
        if not value.isascii() or not value.isprintable() or declared_container(value) is None:
            raise serializers.ValidationError("Recordings are WebM, MP4 or Ogg (video/webm, audio/ogg, ...).")
        return value

    def validate_size(self, value: int) -> int:
        if value < 1:
            raise serializers.ValidationError("A recording has at least one byte.")
        if value > conf.RECORDING_MAX_BYTES:
            raise RecordingTooLarge(f"Recordings are limited to {conf.RECORDING_MAX_BYTES} bytes.")
        return value

    def validate_sha256(self, value: str) -> str:
        if len(value) != 64 or any(c not in "0123456789abcdef" for c in value.lower()):
            raise serializers.ValidationError("The SHA-256 of the whole file, as 64 hexadecimal digits.")
        return value.lower()

    def validate_duration(self, value: float | None) -> float | None:
        if value is not None and (value < 0 or value != value or value == float("inf")):
            raise serializers.ValidationError("Seconds, zero or more.")
        return value


class RecordingTooLarge(exceptions.APIException):
    status_code = 413
    default_detail = "The recording is too large."
    default_code = "too_large"
