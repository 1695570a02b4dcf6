"""``manage.py sfu_nodes``: the SFU nodes with their state, rooms and peers; ``--drain NODE`` drains one for
maintenance (no new room goes there, and the workers move its live rooms to other nodes one by one, their peers
following under the same ids), ``--wait`` until it carries no room, ``--undrain NODE`` takes it back."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from signaling import live


class Command(BaseCommand):
    help = (
        "List the SFU nodes (SIGNALING['SFU_NODES']) with their state, rooms and peers; --drain NODE drains one "
        "(its rooms move to the other nodes, one by one), --undrain NODE takes it back into service."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        action = parser.add_mutually_exclusive_group()
        action.add_argument("--drain", metavar="NODE", help="Drain NODE: no new rooms; its rooms move off it.")
        action.add_argument("--undrain", metavar="NODE", help="Take NODE back into service.")
        parser.add_argument(
            "--wait",
            type=float,
            default=0.0,
            metavar="SECONDS",
            help="With --drain: wait up to SECONDS until the node carries no room (exit status 1 if it still does).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["drain"] or options["undrain"]
        try:
            if name is not None:
                live.drain_sfu_node(name, draining=options["drain"] is not None)
                self.stdout.write(f"{name}: {'draining' if options['drain'] else 'in service'}")
            if options["drain"] and options["wait"] > 0:
                self.wait_until_drained(name, options["wait"])
            else:
                self.list_nodes()
        except KeyError:
            raise CommandError(f"No SFU node {name!r}: SIGNALING['SFU_NODES'] names the nodes.") from None
        except live.LiveRoomsUnavailable as error:
            raise CommandError(f"The registry cannot be reached: {error}") from None

    def list_nodes(self) -> None:
        nodes = live.sfu_nodes()
        if not nodes:
            self.stdout.write("No SFU node is configured (SIGNALING['SFU_NODES'] or ['SFU_JANUS_URL']).")
        for node in nodes:
            capacity = "no bound" if node.capacity is None else f"capacity {node.capacity}"
            self.stdout.write(f"{node.name}\t{node.state}\t{len(node.rooms)} rooms\t{node.peers} peers\t{capacity}")

    def wait_until_drained(self, name: str, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while True:
            node = next(node for node in live.sfu_nodes() if node.name == name)
            if not node.rooms:
                self.stdout.write(f"{name}: drained, no room left on it")
                return
            if time.monotonic() > deadline:
                raise CommandError(f"{name} still carries {len(node.rooms)} rooms after {seconds} s")
            self.stdout.write(f"{name}: {len(node.rooms)} rooms left")
            time.sleep(1.0)
