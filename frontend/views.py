from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

SIGNAL_PATH = "/api/call/signal"


def index(request: HttpRequest) -> HttpResponse:
    """The landing page: shows the signaling endpoint working, live, from this browser."""
    return render(request, "frontend/index.html", {"signal_path": SIGNAL_PATH})
