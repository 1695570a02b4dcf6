"""Rooms as Django models: stored room rules, and a log of every session and lifecycle event."""
