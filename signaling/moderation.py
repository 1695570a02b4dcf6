"""The moderation functions under their first name: ``signaling.live`` is where they live now, with the rest of
what the site may know and do about live rooms."""

from signaling.live import close_room, kick, room_members

__all__ = ["close_room", "kick", "room_members"]
