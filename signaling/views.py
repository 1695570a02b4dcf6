"""Views for operators: liveness (``healthz``), readiness (``readyz``) and Prometheus metrics (``metrics``).

Mount them with ``path("", include("signaling.urls"))``. The probes are async views: under an ASGI server they
answer from the event loop the sockets live on, with no thread hop, so a worker whose loop is stuck fails them.
"""

from __future__ import annotations

import ipaddress

from channels.db import database_sync_to_async
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from signaling.conf import conf
from signaling.drain import is_draining
from signaling.registry import RegistryUnavailable, get_registry
from signaling.sfu.service import get_sfu


async def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness: the process answers. For a restart policy (Kubernetes' livenessProbe, systemd's watchdog)."""
    return HttpResponse("ok\n", content_type="text/plain")


def _database_answers() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


async def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: not draining, the room registry (Redis) and the database answer. 200 or 503, with the reasons.
    For a load balancer's health check and Kubernetes' readinessProbe. Where SFU rooms are configured, ``sfu``
    says whether Janus answers; it does not make the worker unready (mesh rooms do not need it)."""
    problems: list[str] = []
    if is_draining():
        problems.append("draining")
    try:
        await get_registry().ping()
    except RegistryUnavailable:
        problems.append("registry unreachable")
    try:
        await database_sync_to_async(_database_answers)()
    except DatabaseError:
        problems.append("database unreachable")
    answer: dict[str, object] = {"ready": not problems, "problems": problems}
    sfu = get_sfu()
    if sfu is not None:
        answer["sfu"] = "ok" if await sfu.ping() else "unreachable"
    return JsonResponse(answer, status=503 if problems else 200)


def may_read_metrics(request: HttpRequest) -> bool:
    """Staff, or a client address in ``SIGNALING["METRICS_ALLOWED_ADDRESSES"]`` (addresses or networks)."""
    if getattr(request.user, "is_staff", False):
        return True
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in conf.METRICS_ALLOWED_ADDRESSES)


def metrics(request: HttpRequest) -> HttpResponse:
    """This worker's metrics in Prometheus' text format (each worker serves its own: scrape every worker)."""
    if not may_read_metrics(request):
        raise PermissionDenied("Metrics are for staff and the addresses in SIGNALING['METRICS_ALLOWED_ADDRESSES'].")
    return HttpResponse(generate_latest(), content_type=CONTENT_TYPE_LATEST)
