"""The reference project as the browser tests run it: no ICE servers (host candidates only, nothing leaves the
machine) and the React test page among the static files."""

from pathlib import Path

from rtcsite.settings import *  # noqa: F403
from rtcsite.settings import SIGNALING

HERE = Path(__file__).resolve().parent
#: Where tests/browser/static and the esbuild output (tests/browser/build) are served from, under /static/.
STATICFILES_DIRS = [HERE / "static", HERE / "build"]
SIGNALING = {**SIGNALING, "ICE_SERVERS": []}
