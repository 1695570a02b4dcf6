"""``POST /sfu/events``: where Janus's HTTP event handler posts its events (``signaling.sfu.janus_events``); they
go on as ``sfu_media`` lifecycle events (``SfuMediaChanged``), which the ``rooms`` app logs.

Only Janus can use it: each post must carry HTTP basic auth with the user ``janus`` and the password
``SIGNALING["SFU_EVENTS_SECRET"]`` (compared in constant time); without that setting the endpoint answers 404, with
the wrong credentials 401, and nothing is read. It is an async view: under the ASGI server the events join the
worker's own event loop, ordered with every other lifecycle event and written by the same batched recorder.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from signaling import metrics
from signaling.conf import conf
from signaling.events import Callbacks, SfuMediaChanged, get_dispatcher
from signaling.sfu.janus_events import reports_of
from signaling.sfu.service import SfuService

#: The user name Janus's event handler is configured with (``janus_config``).
EVENTS_USER = "janus"
_NO_CALLBACKS = Callbacks()


def _is_janus(request: HttpRequest, secret: str) -> bool:
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return hmac.compare_digest(user.encode(), EVENTS_USER.encode()) & hmac.compare_digest(
        password.encode(), secret.encode()
    )


@csrf_exempt
@require_POST
async def janus_events(request: HttpRequest) -> HttpResponse:
    secret = conf.SFU_EVENTS_SECRET
    if secret is None:
        raise Http404("No SFU events here")
    if not _is_janus(request, secret):
        response = HttpResponse("Janus's credentials are needed\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Basic realm="sfu-events"'
        return response
    try:
        body = json.loads(request.body)
    except ValueError:
        return JsonResponse({"error": "The body is not JSON"}, status=400)
    dispatcher = get_dispatcher()
    reports = reports_of(body)
    for report in reports:
        metrics.SFU_EVENTS.labels(report.kind.value).inc()
        event = SfuMediaChanged(
            room_id=report.room_id,
            peer_id=report.peer_id,
            connection=report.connection,
            kind=report.kind.value,
            media=report.media,
            detail=report.detail,
            at=report.at,
        )
        dispatcher.emit(event, _NO_CALLBACKS, SfuService)
    return JsonResponse({"logged": len(reports)})
