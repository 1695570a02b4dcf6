"""``manage.py janus_config FOLDER``: the configuration of the Janus Gateway that serves this site's SFU rooms."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.core.management.base import BaseCommand, CommandError, CommandParser

from signaling.conf import conf


class Command(BaseCommand):
    help = (
        "Write the configuration of the Janus Gateway that serves this site's SFU rooms into FOLDER (run Janus with "
        "`janus -F FOLDER`): only the VideoRoom plugin and the WebSocket API, on the address and port of "
        "SIGNALING['SFU_JANUS_URL'], with SIGNALING['SFU_API_SECRET'] and SIGNALING['SFU_ADMIN_KEY']."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("folder", type=Path)
        parser.add_argument("--rtp-ports", default="20000-40000", help="Janus's media ports (default 20000-40000).")
        parser.add_argument("--media-address", help="The only address Janus gathers ICE candidates on.")
        parser.add_argument("--public-address", help="The public address of a Janus behind a 1:1 NAT (cloud).")
        parser.add_argument("--api-acl", help="Address prefixes the API takes requests from (default: its own).")
        parser.add_argument(
            "--reclaim-timeout",
            type=int,
            default=30,
            help="Seconds a session waits for a worker to claim it after its own worker went (default 30); at least "
            "SIGNALING['RESUME_GRACE'], so that a resumed peer finds its session.",
        )

        parser.add_argument(
            "--events-url",
            help="Where Janus posts its events about our peers' connections, for the lifecycle log: this site's "
            "/sfu/events as Janus reaches it (say http://10.0.0.5:8000/sfu/events); needs "
            "SIGNALING['SFU_EVENTS_SECRET'], which Janus proves itself with. Default: no events.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from signaling.sfu.janus_config import JanusConfig

        url, secret, key = conf.SFU_JANUS_URL, conf.SFU_API_SECRET, conf.SFU_ADMIN_KEY
        if url is None or secret is None or key is None:
            raise CommandError("Set SIGNALING['SFU_JANUS_URL'], ['SFU_API_SECRET'] and ['SFU_ADMIN_KEY'] first.")
        where = urlsplit(url)
        if where.hostname is None or where.port is None:
            raise CommandError(f"SIGNALING['SFU_JANUS_URL'] must name a host and a port, not {url!r}.")
        try:
            low, high = (int(part) for part in options["rtp_ports"].split("-"))
        except ValueError:
            raise CommandError("--rtp-ports takes two numbers, as 20000-40000.") from None
        if options["reclaim_timeout"] < conf.RESUME_GRACE:
            raise CommandError(
                f"--reclaim-timeout {options['reclaim_timeout']} is shorter than SIGNALING['RESUME_GRACE'] "
                f"({conf.RESUME_GRACE:g} s): a peer resuming late would find its Janus session gone."
            )
        events_url = options["events_url"]
        if events_url is not None and conf.SFU_EVENTS_SECRET is None:
            raise CommandError("--events-url needs SIGNALING['SFU_EVENTS_SECRET'] (what Janus proves itself with).")
        if events_url is not None and not events_url.startswith(("http://", "https://")):
            raise CommandError(f"--events-url must be an http:// or https:// URL, not {events_url!r}.")
        address = where.hostname
        config = JanusConfig(
            api_secret=secret,
            admin_key=key,
            api_port=where.port,
            api_address=address,
            api_acl=options["api_acl"] or address,
            rtp_ports=(low, high),
            media_address=options["media_address"],
            public_address=options["public_address"],
            reclaim_timeout=options["reclaim_timeout"],
            events_url=events_url,
            events_secret=conf.SFU_EVENTS_SECRET if events_url is not None else None,
        )
        for path in config.write(options["folder"]):
            self.stdout.write(f"wrote {path}")
