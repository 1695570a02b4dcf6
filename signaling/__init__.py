"""Signaling for browser-to-browser calls: a Channels consumer that keeps rooms and relays SDP and ICE."""
