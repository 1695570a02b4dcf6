"""Sphinx configuration of the documentation site: Markdown pages (MyST), the default theme, no network."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from signaling import __version__  # noqa: E402 (after the path is set)

project = "django-rtc-signaling"
author = "django-rtc-signaling contributors"
copyright = "2026, django-rtc-signaling contributors"
release = __version__
version = __version__

extensions = ["myst_parser"]
source_suffix = {".md": "markdown"}
master_doc = "index"
exclude_patterns = ["_build"]
# Links to a heading of another page (`client.md#devices`) resolve; a link that resolves nowhere is a warning,
# and the suite builds with warnings as errors.
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]
html_theme = "alabaster"
html_static_path: list[str] = []
html_title = f"django-rtc-signaling {version}"
