"""The REST API's OpenAPI schema: it validates, the docs page is served without a CDN, and property-based requests
generated from it (schemathesis, as staff and as nobody) never get a 5xx."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from rooms.models import Recording, Room

pytestmark = pytest.mark.django_db

# Chunks are raw bytes, like application/octet-stream.
schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")

RECORDING_ID = uuid.UUID("6f1c2a4e-0d7b-4c1a-9a55-3f0e8b2d7c11")
STAFF = "Basic " + base64.b64encode(b"schema-staff:schema-password").decode()


def test_schema_validates_without_warnings(tmp_path: Any) -> None:
    output = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(output))
    text = output.read_text()
    for path in ("/api/rooms/{id}/kick/", "/api/rooms/{id}/token/", "/api/recordings/{id}/content/"):
        assert path in text


def test_schema_and_docs_are_served_from_the_site(client: Client) -> None:
    assert client.get("/api/schema/").status_code == 200
    docs = client.get("/api/docs/").content.decode()
    assert "swagger-ui" in docs
    assert "/static/drf_spectacular_sidecar/" in docs
    assert "cdn." not in docs
    assert "jsdelivr" not in docs


@pytest.fixture
def api_schema(db: None, settings: Any) -> Iterator[Any]:
    settings.ALLOWED_HOSTS = ["localhost"]  # schemathesis's WSGI requests name this host
    staff = User.objects.create_user("schema-staff", password="schema-password", is_staff=True)
    room = Room.objects.create(id="schema-room", name="A room to find")
    Recording.objects.create(
        id=RECORDING_ID, room=room, owner=staff, filename="r.webm", mime_type="video/webm", size=100, sha256="0" * 64
    )
    # As Django's test client does: the test's transaction holds the connection, requests must not close it.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def existing_object(path: str) -> dict[str, Any] | None:
    """Path parameters naming objects that exist, so that generated requests reach past the 404."""
    if path.startswith("/api/rooms/{id}"):
        return {"id": "schema-room"}
    if path.startswith("/api/recordings/{id}"):
        return {"id": str(RECORDING_ID)}
    return None


@pytest.mark.parametrize("existing", [True, False], ids=["existing-objects", "any-ids"])
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
@pytest.mark.parametrize("authorization", [STAFF, None], ids=["staff", "anonymous"])
def test_generated_requests_get_no_server_error(
    api_schema: Any, mode: GenerationMode, existing: bool, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 12
    calls = 0

    for operation in operations:
        path_parameters = existing_object(operation.path) if existing else None

        # Small, repeatable runs: each operation gets examples of its own.
        @settings(
            max_examples=12, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
        )
        @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
        def request_without_server_error(case: Any) -> None:
            nonlocal calls
            calls += 1
            response = case.call(headers=headers)
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:500]}"
            )

        try:
            request_without_server_error()
        except Unsatisfiable:
            # Invalid input was asked for, but the fixed path parameters were all there was to make invalid.
            assert mode == GenerationMode.NEGATIVE
            assert path_parameters
    assert calls >= len(operations) * 5
