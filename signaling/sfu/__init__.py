"""SFU rooms: the signaling workers drive a Janus Gateway's VideoRoom for the rooms whose media goes through it.

Browsers never talk to Janus's API: ``janus`` is the workers' client of it, ``janus_config`` writes the
configuration Janus runs with, ``videoroom`` holds the VideoRoom's requests, ``room_end`` takes a Janus room
down with the room of ours it served, and ``janus_events`` (read) and ``event_intake`` (the endpoint Janus posts
to) bring Janus's events about our peers' connections into the lifecycle log.
"""
