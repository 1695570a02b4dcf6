"""``/healthz``, ``/readyz``, ``/metrics``, and ``/sfu/events`` (Janus's events: only Janus may post there):
include with ``path("", include("signaling.urls"))``."""

from django.urls import path

from signaling import views
from signaling.sfu.event_intake import janus_events

app_name = "signaling"

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.metrics, name="metrics"),
    path("sfu/events", janus_events, name="sfu-events"),
]
