"""Connection tests (extension): what a client's test of its own network needs from this server, and the report
it may send back for the site's support staff (``connection-test``, ``connection-report``; docs/protocol.md).

The server takes no part in the test itself: it hands out the ICE servers a call here would use, with TURN
credentials of the test's own, and passes a report on as an event (``signals.connection_reported``), which the
``rooms`` app keeps. Each request costs one of the address's joins (``JOIN_RATE_PER_ADDRESS``): a test is worth
no more than a join to whoever repeats it.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from signaling import signals
from signaling.conf import conf
from signaling.ice import ice_servers_for
from signaling.protocol import ConnectionReportReceivedFrame, ConnectionTestFrame, ErrorCode, SignalingError, encode

#: Seconds a test's TURN credentials work: a test takes seconds, so they are of little use to anyone after it.
TEST_CREDENTIAL_TTL = 120
#: Reports one socket may send: a user who tests again and sends again, not a flood of rows.
MAX_REPORTS_PER_SOCKET = 5


def refusal(user_id: Any) -> SignalingError | None:
    """Why this client may not test its connection here (``CONNECTION_TEST``); None when it may."""
    access = conf.CONNECTION_TEST
    if access == "off":
        return SignalingError(ErrorCode.FORBIDDEN, "Connection tests are off on this server")
    if access == "authenticated" and user_id is None:
        return SignalingError(ErrorCode.FORBIDDEN, "Log in to test your connection")
    return None


def connection_test_frame(client_address: str | None) -> str:
    """The reply to ``connection-test``: ICE servers with credentials of a test's own (its username names no peer
    of any room: ``test-<random>``), valid ``TEST_CREDENTIAL_TTL`` seconds."""
    frame: ConnectionTestFrame = {"t": "connection-test", "clientAddress": client_address}
    ttl = min(TEST_CREDENTIAL_TTL, conf.TURN_CREDENTIAL_TTL)
    servers = ice_servers_for(f"test-{secrets.token_urlsafe(9)}", ttl=ttl)
    if servers is not None:
        frame["iceServers"] = servers
    return encode(frame)


def reports_are_kept() -> bool:
    """Whether anything on this site keeps connection reports (the ``rooms`` app does): none is taken otherwise,
    rather than acknowledged and lost."""
    return signals.connection_reported.has_listeners()


def new_report_id() -> str:
    return str(uuid.uuid4())


def report_received_frame(report_id: str) -> str:
    frame: ConnectionReportReceivedFrame = {"t": "connection-report-received", "id": report_id}
    return encode(frame)
