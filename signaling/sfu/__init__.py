"""SFU rooms: the signaling workers drive a Janus Gateway's VideoRoom for the rooms whose media goes through it.

Browsers never talk to Janus's API: ``janus`` is the workers' client of it, ``janus_config`` writes the
configuration Janus runs with, and ``videoroom`` holds the VideoRoom's requests.
"""
