"""SFU rooms: the signaling workers drive a Janus Gateway's VideoRoom for the rooms whose media goes through it.

Browsers never talk to Janus's API: ``janus`` is the workers' client of it, ``janus_config`` writes the
configuration Janus runs with, ``videoroom`` holds the VideoRoom's requests, and ``room_end`` takes a Janus room
down with the room of ours it served.
"""
