"""The rooms REST API: include it under a prefix of your choice, e.g. ``path("api/", include("rooms.urls"))``."""

from rest_framework.routers import SimpleRouter

from rooms.api import RoomViewSet
from rooms.recordings import RecordingViewSet

app_name = "rooms-api"


class OptionalSlashRouter(SimpleRouter):
    """Trailing slashes optional: `POST /api/rooms/<id>/token` and `.../token/` both work (no redirect, which
    a POST could not follow)."""

    def __init__(self) -> None:
        super().__init__()
        self.trailing_slash = "/?"


router = OptionalSlashRouter()
router.register("rooms", RoomViewSet, basename="room")
router.register("recordings", RecordingViewSet, basename="recording")

urlpatterns = router.urls
