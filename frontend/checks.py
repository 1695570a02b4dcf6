"""System checks for the ``FRONTEND`` settings (``manage.py check``): each value by its kind (``frontend.conf``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.checks import CheckMessage

from frontend.conf import FrontendSettings
from signaling.settings_dict import settings_check


@settings_check(FrontendSettings)
def check_settings(user_settings: Mapping[str, Any]) -> list[CheckMessage]:
    """Nothing beyond each value on its own."""
    return []
