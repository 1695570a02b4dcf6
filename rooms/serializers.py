"""How rooms, their events and room tokens look in the REST API."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from rooms.models import Room, RoomEvent


class RoomSerializer(serializers.ModelSerializer[Room]):
    """A stored room, with its live peer count from the signaling registry (null when it cannot be reached)."""

    live_peers = serializers.SerializerMethodField(help_text="Peers in the room now; null if unknown.")

    class Meta:
        model = Room
        fields = ["id", "name", "max_peers", "is_open", "access", "created_at", "updated_at", "live_peers"]
        read_only_fields = ["created_at", "updated_at"]

    def get_live_peers(self, room: Room) -> int | None:
        counts: dict[str, int] | None = self.context.get("live_counts")
        return None if counts is None else counts.get(room.pk, 0)

    def validate_id(self, value: str) -> str:
        if self.instance is not None and value != self.instance.pk:
            raise serializers.ValidationError("A room's id cannot change.")
        return value


class RoomDetailSerializer(RoomSerializer):
    """A room with the ids of its current peers (for staff; others see the count only)."""

    peers = serializers.SerializerMethodField(help_text="Peer ids in the room now (staff only; null otherwise).")

    class Meta(RoomSerializer.Meta):
        fields = [*RoomSerializer.Meta.fields, "peers"]

    def get_peers(self, room: Room) -> list[str] | None:
        peers: list[str] | None = self.context.get("peers")
        return peers


class RoomEventSerializer(serializers.ModelSerializer[RoomEvent]):
    class Meta:
        model = RoomEvent
        fields = ["id", "kind", "peer_id", "at", "detail"]


class RoomEventPageSerializer(serializers.Serializer[Any]):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = RoomEventSerializer(many=True)


class KickSerializer(serializers.Serializer[Any]):
    peer_id = serializers.CharField(max_length=64)


class KickResultSerializer(serializers.Serializer[Any]):
    kicked = serializers.BooleanField()


class CloseResultSerializer(serializers.Serializer[Any]):
    closed_peers = serializers.IntegerField(help_text="How many peers were in the room and had their stay ended.")


class RoomTokenSerializer(serializers.Serializer[Any]):
    token = serializers.CharField(help_text="Send it as join.token, or as ?token= on the socket URL.")
    room_id = serializers.CharField()
    expires_at = serializers.DateTimeField()
