"""Origin checks against cross-site WebSocket hijacking, and the per-connection rate limit."""

from __future__ import annotations

import pytest
from channels.testing import WebsocketCommunicator

from signaling.consumer import SignalingConsumer
from signaling.origin import is_origin_allowed, normalize_origin
from tests.conftest import Connect

pytestmark = pytest.mark.django_db(transaction=True)


async def open_with_origin(origin: str) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(
        SignalingConsumer.as_asgi(), "/api/call/signal", headers=[(b"origin", origin.encode())]
    )
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def test_foreign_origin_is_closed_with_4003(settings) -> None:  # type: ignore[no-untyped-def]
    settings.ALLOWED_HOSTS = ["calls.example.com"]
    communicator = await open_with_origin("https://evil.example.net")
    assert await communicator.receive_output(1) == {"type": "websocket.close", "code": 4003}
    # Whatever it sends afterwards is ignored.
    await communicator.send_to(text_data='{"t": "join", "roomId": "lobby"}')
    assert await communicator.receive_nothing(0.1)
    await communicator.disconnect()


async def test_origin_in_allowed_hosts_is_served(connect: Connect, settings) -> None:  # type: ignore[no-untyped-def]
    settings.ALLOWED_HOSTS = [".example.com"]
    peer = await connect(headers=[(b"origin", b"https://calls.example.com")])
    await peer.assert_still_serving()


async def test_origin_in_setting_is_served(connect: Connect, settings) -> None:  # type: ignore[no-untyped-def]
    settings.ALLOWED_HOSTS = ["calls.example.com"]
    settings.SIGNALING = {**settings.SIGNALING, "ALLOWED_ORIGINS": ["https://app.example.org:8443"]}
    peer = await connect(headers=[(b"origin", b"https://APP.example.org:8443")])
    await peer.assert_still_serving()


async def test_missing_origin_is_not_a_browser_and_is_served(connect: Connect, settings) -> None:  # type: ignore[no-untyped-def]
    settings.ALLOWED_HOSTS = ["calls.example.com"]
    peer = await connect()
    await peer.assert_still_serving()


@pytest.mark.parametrize(
    ("origin", "extra", "hosts", "allowed"),
    [
        ("https://a.example.com", [], ["a.example.com"], True),
        ("https://a.example.com:8443", [], ["a.example.com"], True),
        ("https://b.example.com", [], [".example.com"], True),
        ("https://example.com.evil.net", [], [".example.com"], False),
        ("null", [], ["*"], False),
        ("https://x.test", [], ["*"], True),
        ("https://x.test", ["*"], [], True),
        ("https://x.test", ["https://x.test"], [], True),
        ("http://x.test", ["https://x.test"], [], False),
        ("https://x.test:444", ["https://x.test"], [], False),
        ("file://", [], ["localhost"], False),
        ("http://[::1]:8000", [], ["[::1]"], True),
        ("http://localhost:8000", [], [".localhost", "127.0.0.1"], True),
    ],
)
def test_origin_rules(origin: str, extra: list[str], hosts: list[str], allowed: bool) -> None:
    assert is_origin_allowed(origin, extra, hosts) is allowed


@pytest.mark.parametrize(
    ("origin", "host", "allowed"),
    [
        ("https://calls.example.com", "calls.example.com", True),
        ("http://calls.example.com:8000", "calls.example.com:8000", True),
        ("https://calls.example.com:443", "calls.example.com", True),
        # Another port or another host of the same site is another origin.
        ("https://calls.example.com:8443", "calls.example.com", False),
        ("http://calls.example.com:8001", "calls.example.com:8000", False),
        ("https://other.example.com", "calls.example.com", False),
        # The Host must be a host of the site's, too.
        ("https://evil.example.net", "evil.example.net", False),
    ],
)
def test_origin_must_be_the_sockets_own(origin: str, host: str, allowed: bool) -> None:
    assert is_origin_allowed(origin, [], [".example.com"], host) is allowed
    # Listed in full, any origin passes.
    assert is_origin_allowed(origin, [origin], [".example.com"], host) is True


async def test_a_page_on_another_port_of_the_host_is_refused(settings) -> None:  # type: ignore[no-untyped-def]
    settings.ALLOWED_HOSTS = ["calls.example.com"]
    communicator = WebsocketCommunicator(
        SignalingConsumer.as_asgi(),
        "/api/call/signal",
        headers=[(b"origin", b"https://calls.example.com:9000"), (b"host", b"calls.example.com")],
    )
    connected, _ = await communicator.connect()
    assert connected
    assert await communicator.receive_output(1) == {"type": "websocket.close", "code": 4003}
    await communicator.disconnect()


def test_normalize_origin() -> None:
    assert normalize_origin("HTTPS://Example.COM:443/") == "https://example.com:443"
    assert normalize_origin("https://example.com/path") is None
    assert normalize_origin("ftp://example.com") is None
    assert normalize_origin("https://example.com:99999") is None


async def test_flood_is_rate_limited_then_closed_with_4008(connect: Connect, room_id: str, settings) -> None:  # type: ignore[no-untyped-def]
    settings.SIGNALING = {
        **settings.SIGNALING,
        "RATE_LIMIT_PER_SECOND": 1,
        "RATE_LIMIT_BURST": 5,
        "RATE_LIMIT_TOLERANCE": 3,
    }
    alice, bob = await connect(), await connect()
    await alice.join(room_id)
    await bob.join(room_id)  # bob has 4 tokens left
    await alice.receive()
    for index in range(4):
        await bob.send(t="ice", candidate={"candidate": f"c{index}"})
    for index in range(4):
        assert (await alice.receive())["candidate"]["candidate"] == f"c{index}"
    for _ in range(3):
        await bob.send(t="ice", candidate={"candidate": "flood"})
        await bob.expect_error("rate-limited", "Rate limit exceeded")
    await alice.assert_silent()
    await bob.send(t="ice", candidate={"candidate": "flood"})
    assert await bob.receive_close() == 4008
    bob.closed = True
    await bob.communicator.send_input({"type": "websocket.disconnect", "code": 4008})
    await bob.communicator.wait(1)
    assert await alice.receive() == {"t": "peer-left", "peerId": bob.peer_id, "reason": "disconnect"}


def test_token_bucket_refills_at_its_rate() -> None:
    from signaling.ratelimit import TokenBucket

    bucket = TokenBucket(rate=10, burst=2)
    start = bucket._updated
    assert bucket.allow(start)
    assert bucket.allow(start)
    assert not bucket.allow(start)
    assert not bucket.allow(start + 0.05)  # half a token
    assert bucket.allow(start + 0.15)  # one and a half
    assert not bucket.allow(start + 0.15)
    assert bucket.allow(start + 10)
    assert bucket.allow(start + 10)
    assert not bucket.allow(start + 10)
