"""Lifecycle events as Django signals, sent off the relay path after the client has been answered.

Every signal is sent with ``sender`` = the consumer class and ``at`` = when the event happened (aware datetime),
plus the keyword arguments listed beside it. Receivers may be sync or async; one that raises is logged.
"""

from django.dispatch import Signal

#: room_id: the first peer joined an empty room.
room_created = Signal()
#: room_id: the last peer left.
room_destroyed = Signal()
#: room_id, peer_id, user_id (None when anonymous), client_address, user_agent, display_name ("" when none).
peer_joined = Signal()
#: room_id, peer_id, metadata, display_name: a member changed its metadata (``update``).
peer_updated = Signal()
#: room_id, peer_id, reason (a ``LeaveReason`` value).
peer_left = Signal()
#: room_id, peer_id, remote_id, relay (bool), protocol ("udp", "tcp", "tls"; "" when direct): the media path of a
#: peer's connection to another, as its client reports it (``path``), each time it changes.
peer_path = Signal()
#: room_id, peer_id, connection ("publisher" or "subscriber"), kind ("media-up", "media-lost", "slow-link",
#: "hangup"), media ("audio", "video", or "" for the whole connection), detail (a dict): what Janus said about one
#: of a peer's connections with the SFU (``signaling.sfu.janus_events``). Sent with ``sender`` = ``SfuService``.
sfu_media = Signal()
#: report_id (a UUID string, the one the client was given), checks (the normalized list of a
#: ``connection-report``), ok (no check failed), user_id, session_key (the Django session's, or ""),
#: client_address, user_agent: a client sent the results of its connection test.
connection_reported = Signal()
#: room_id (as sent; may be None or invalid), code (an ``ErrorCode`` value), message, user_id, client_address.
join_rejected = Signal()
#: kind ("sdp" or "ice"), from_peer, to_peer (None for the whole room), room_id. Sent only while it has receivers.
message_relayed = Signal(use_caching=True)
#: error (a ``SignalingError`` or an unexpected exception), peer_id, room_id.
signaling_error = Signal()
#: No arguments but ``sender`` (the consumer class): this worker drained its sockets for a shutdown and is about
#: to stop. Async receivers are awaited (within ``SIGNALING["DRAIN_SECONDS"]``): flush what must not be lost.
worker_stopping = Signal()
