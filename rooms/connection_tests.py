"""Keeps the connection test reports that visitors send (``signaling.signals.connection_reported``) as
``ConnectionTest`` rows, for the admin."""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Any

from channels.db import database_sync_to_async

from rooms.models import ConnectionTest
from signaling import signals


def store_report(
    *,
    report_id: str,
    checks: list[dict[str, Any]],
    ok: bool,
    user_id: Any,
    session_key: str,
    client_address: str | None,
    user_agent: str,
    at: datetime,
) -> ConnectionTest:
    try:
        address = str(ipaddress.ip_address(client_address)) if client_address else None
    except ValueError:
        address = None
    return ConnectionTest.objects.create(
        id=report_id,
        created_at=at,
        user_id=user_id,
        session_key=session_key[:40],
        client_address=address,
        user_agent=user_agent,
        ok=ok,
        checks=checks,
    )


async def keep_report(sender: type, **fields: Any) -> None:
    fields.pop("signal", None)
    await database_sync_to_async(store_report)(**fields)


signals.connection_reported.connect(keep_report, weak=False, dispatch_uid="rooms.connection_tests.keep")
