"""``/healthz``, ``/readyz`` and ``/metrics``: include with ``path("", include("signaling.urls"))``."""

from django.urls import path

from signaling import views

app_name = "signaling"

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.metrics, name="metrics"),
]
