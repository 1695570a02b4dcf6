"""Signaling for browser-to-browser calls: a Channels consumer that keeps rooms and relays SDP and ICE."""

#: The package's version, single-sourced: pyproject.toml reads it from here.
__version__ = "0.2.0.dev0"
