"""Agentuity's server callbacks and the same events as Django signals: all of them, in order, never in the way."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from signaling import signals
from signaling.protocol import SignalingError
from tests.conftest import Connect, settle

pytestmark = pytest.mark.django_db(transaction=True)


def running_on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def recording_callbacks(calls: list[tuple[Any, ...]], *, sync: bool) -> dict[str, Any]:
    names = ["on_room_created", "on_peer_join", "on_peer_leave", "on_room_destroyed", "on_message", "on_error"]
    callbacks: dict[str, Any] = {}
    for name in names:
        if sync:

            def record(*args: Any, _name: str = name) -> None:
                # Sync callbacks run off the event loop (so they may use the ORM); a call made on it is not recorded.
                if not running_on_event_loop():
                    calls.append((_name, *args))
        else:

            async def record(*args: Any, _name: str = name) -> None:
                await asyncio.sleep(0)
                calls.append((_name, *args))

        callbacks[name] = record
    return callbacks


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_every_callback_is_called_in_order(connect: Connect, room_id: str, sync: bool) -> None:
    calls: list[tuple[Any, ...]] = []
    callbacks = recording_callbacks(calls, sync=sync)
    alice, bob = await connect(callbacks=callbacks), await connect(callbacks=callbacks)
    await alice.join(room_id)
    await bob.join(room_id)
    await alice.receive()
    await bob.send(t="sdp", to=alice.peer_id, description={"type": "offer", "sdp": "x"})
    await alice.receive()
    await alice.send(t="ice", candidate={"candidate": "c"})
    await bob.receive()
    await bob.send(t="dance")
    await bob.expect_error("unknown-type")
    await bob.send(t="leave")
    await alice.receive()
    await alice.close()
    await settle()

    error_call = next(call for call in calls if call[0] == "on_error")
    assert isinstance(error_call[1], SignalingError)
    assert error_call[1].code == "unknown-type"
    assert error_call[2:] == (bob.peer_id, room_id)
    assert [call for call in calls if call[0] != "on_error"] == [
        ("on_room_created", room_id),
        ("on_peer_join", alice.peer_id, room_id),
        ("on_peer_join", bob.peer_id, room_id),
        ("on_message", "sdp", bob.peer_id, alice.peer_id, room_id),
        ("on_message", "ice", alice.peer_id, None, room_id),
        ("on_peer_leave", bob.peer_id, room_id, "leave"),
        ("on_peer_leave", alice.peer_id, room_id, "disconnect"),
        ("on_room_destroyed", room_id),
    ]


async def test_raising_callback_is_logged_and_relay_goes_on(
    connect: Connect, room_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(*args: Any) -> None:
        raise RuntimeError("callback bug")

    async def explode_async(*args: Any) -> None:
        raise RuntimeError("async callback bug")

    callbacks = {"on_peer_join": explode, "on_message": explode_async, "on_room_created": explode}
    alice, bob = await connect(callbacks=callbacks), await connect(callbacks=callbacks)
    with caplog.at_level(logging.ERROR, logger="signaling.events"):
        await alice.join(room_id)
        await bob.join(room_id)
        assert (await alice.receive())["t"] == "peer-joined"
        for index in range(3):
            await bob.send(t="ice", candidate={"candidate": f"c{index}"})
            assert (await alice.receive())["candidate"]["candidate"] == f"c{index}"
        await settle()
    messages = [record.getMessage() for record in caplog.records]
    assert messages.count("Signaling callback on_peer_join raised") == 2
    assert messages.count("Signaling callback on_message raised") == 3
    assert messages.count("Signaling callback on_room_created raised") == 1


async def test_slow_callback_does_not_delay_replies_or_relays(connect: Connect, room_id: str) -> None:
    release = asyncio.Event()

    async def slow(*args: Any) -> None:
        await release.wait()

    callbacks = {"on_peer_join": slow, "on_message": slow}
    alice, bob = await connect(callbacks=callbacks), await connect(callbacks=callbacks)
    await alice.join(room_id)
    await bob.join(room_id)
    await alice.receive()
    for index in range(5):
        await bob.send(t="ice", candidate={"candidate": f"c{index}"})
        assert (await alice.receive(timeout=0.5))["candidate"]["candidate"] == f"c{index}"
    release.set()


async def test_django_signals_carry_every_lifecycle_event(connect: Connect, room_id: str) -> None:
    received: list[tuple[str, dict[str, Any]]] = []

    def make_receiver(name: str) -> Any:
        async def receiver(sender: type, **kwargs: Any) -> None:
            kwargs.pop("signal")
            received.append((name, kwargs))

        return receiver

    receivers = {
        name: make_receiver(name)
        for name in (
            "room_created",
            "peer_joined",
            "peer_left",
            "room_destroyed",
            "join_rejected",
            "message_relayed",
            "signaling_error",
        )
    }
    for name, receiver in receivers.items():
        getattr(signals, name).connect(receiver)
    try:
        alice, bob, carol = await connect(), await connect(), await connect()
        await alice.join(room_id)
        await bob.join(room_id)
        await alice.receive()
        await carol.send(t="join", roomId=room_id)
        await carol.expect_error("room-full")
        await bob.send(t="ice", candidate={"candidate": "c"})
        await alice.receive()
        await alice.close()
        await bob.close()
        await settle()
    finally:
        for name, receiver in receivers.items():
            getattr(signals, name).disconnect(receiver)

    kinds = [name for name, _ in received]
    assert kinds == [
        "room_created",
        "peer_joined",
        "peer_joined",
        "join_rejected",
        "signaling_error",
        "message_relayed",
        "peer_left",
        "peer_left",
        "room_destroyed",
    ]
    by_kind = dict(received)
    assert by_kind["peer_joined"]["room_id"] == room_id
    assert set(by_kind["peer_joined"]) == {
        "room_id",
        "peer_id",
        "at",
        "user_id",
        "client_address",
        "user_agent",
        "display_name",
    }
    assert by_kind["join_rejected"]["code"] == "room-full"
    assert by_kind["join_rejected"]["message"] == "Room is full (max 2 peers)"
    assert by_kind["message_relayed"] == {
        "kind": "ice",
        "from_peer": bob.peer_id,
        "to_peer": None,
        "room_id": room_id,
        "at": by_kind["message_relayed"]["at"],
    }
    assert [kw["reason"] for name, kw in received if name == "peer_left"] == ["disconnect", "disconnect"]
