"""ASGI entry point of the reference project: HTTP through Django, WebSockets to the signaling endpoint."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rtcsite.settings")
# Django must be set up before anything imports models.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from rtcsite.routing import websocket_urlpatterns  # noqa: E402
from signaling.auth import AuthMiddlewareStack  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Origins are checked by the consumer itself, which closes with 4003 so the page can tell why.
        "websocket": AuthMiddlewareStack(URLRouter(websocket_urlpatterns)),
    }
)
