"""The REST API of recordings: start an upload, send its bytes in chunks (resumable), list, read, download and
delete. A recording is its uploader's and staff's; uploading needs a logged-in user who may see the room."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ParseError, ValidationError
from rest_framework.parsers import BaseParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from rooms.api import whole_number
from rooms.conf import conf
from rooms.models import Recording
from rooms.pagination import StandardPagination
from rooms.permissions import IsOwnerOrStaff, has_staff_permission
from rooms.serializers import RecordingSerializer, RecordingTooLarge
from rooms.uploads import UploadError, delete_recording, store_chunk


class ChunkParser(BaseParser):
    """A chunk's raw bytes, up to ``ROOMS["RECORDING_CHUNK_MAX_BYTES"]``."""

    media_type = "application/offset+octet-stream"

    def parse(  # type: ignore[override]  # the chunk's bytes, not a mapping of fields
        self, stream: Any, media_type: str | None = None, parser_context: Any = None
    ) -> bytes:
        limit = conf.RECORDING_CHUNK_MAX_BYTES
        data = stream.read(limit + 1) if stream is not None else b""
        if len(data) > limit:
            raise RecordingTooLarge(f"A chunk carries at most {limit} bytes.")
        return bytes(data)


class OctetStreamChunkParser(ChunkParser):
    media_type = "application/octet-stream"


def upload_offset(request: Request) -> int:
    offset = whole_number(request.headers.get("Upload-Offset", ""))
    if offset is None:
        raise ValidationError({"Upload-Offset": "The byte offset of this chunk, a whole number."})
    return offset


RECORDING_FILTERS = [
    OpenApiParameter("room", OpenApiTypes.STR, description="Recordings of this room."),
    OpenApiParameter("status", OpenApiTypes.STR, enum=[choice.value for choice in Recording.Status]),
]


@extend_schema_view(list=extend_schema(parameters=RECORDING_FILTERS))
class RecordingViewSet(
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet[Recording],
):
    """Recordings uploaded from calls. Each is visible to its uploader and to staff."""

    serializer_class = RecordingSerializer
    permission_classes = [IsAuthenticated, IsOwnerOrStaff]
    pagination_class = StandardPagination
    queryset = Recording.objects.all()

    def get_queryset(self) -> QuerySet[Recording]:
        recordings = Recording.objects.select_related("owner").order_by("-created_at")
        if not has_staff_permission(self.request.user, "rooms.view_recording"):
            recordings = recordings.filter(owner_id=self.request.user.pk)
        if self.action == "list":
            room = self.request.query_params.get("room", "").strip()
            if room:
                recordings = recordings.filter(room_id=room)
            wanted = self.request.query_params.get("status", "").strip()
            if wanted:
                if wanted not in Recording.Status.values:
                    raise ValidationError({"status": f"One of: {', '.join(Recording.Status.values)}."})
                recordings = recordings.filter(status=wanted)
        return recordings

    def perform_create(self, serializer: BaseSerializer[Recording]) -> None:
        serializer.save(owner=self.request.user)

    def perform_destroy(self, instance: Recording) -> None:
        delete_recording(instance)

    @extend_schema(
        request={"application/offset+octet-stream": OpenApiTypes.BINARY},
        parameters=[OpenApiParameter("Upload-Offset", OpenApiTypes.INT, OpenApiParameter.HEADER, required=True)],
        responses={
            200: RecordingSerializer,
            409: OpenApiTypes.OBJECT,
            413: OpenApiTypes.OBJECT,
            415: OpenApiTypes.OBJECT,
            422: OpenApiTypes.OBJECT,
        },
    )
    @action(detail=True, methods=["put"], parser_classes=[ChunkParser, OctetStreamChunkParser])
    def content(self, request: Request, pk: str | None = None) -> Response:
        """Store the next chunk. `Upload-Offset` must equal `received`; after a failure, read the recording to
        learn `received` and go on from there. The last chunk completes the upload (or fails it, if the bytes
        do not match the declared SHA-256)."""
        recording = self.get_object()
        offset = upload_offset(request)
        # DRF types request.data as a dict; the chunk parsers hand over the raw bytes.
        data: object = request.data
        if not isinstance(data, bytes):
            raise ParseError("Send the chunk's bytes as application/offset+octet-stream.")
        try:
            recording = store_chunk(recording.pk, offset, data)
        except UploadError as error:
            return Response({"detail": error.detail, **error.extra}, status=error.status)
        return Response(self.get_serializer(recording).data)

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY, 404: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["get"])
    def download(self, request: Request, pk: str | None = None) -> FileResponse:
        """The finished file, as uploaded (its SHA-256 is the recording's)."""
        recording = self.get_object()
        if recording.status != Recording.Status.COMPLETE or not recording.file:
            raise NotFound("This recording is not complete.")
        return FileResponse(
            recording.file.open("rb"),
            as_attachment=True,
            filename=recording.filename,
            content_type=recording.mime_type,
        )
