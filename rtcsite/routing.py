from django.urls import path

from signaling.consumer import SignalingConsumer

websocket_urlpatterns = [
    # The seed's path; max_peers comes from SIGNALING["MAX_PEERS"] or the stored room.
    path("api/call/signal", SignalingConsumer.as_asgi()),
]
