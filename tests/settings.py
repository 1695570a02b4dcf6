"""The reference project's settings, with a test database in a file that a daphne subprocess can share."""

import os
import tempfile
from pathlib import Path

from rtcsite.settings import *  # noqa: F403
from rtcsite.settings import DATABASES

# A file, not SQLite's in-memory default: end-to-end tests run the server in another process on this database.
DATABASES["default"]["TEST"] = {"NAME": str(Path(tempfile.gettempdir()) / f"rtcsite-test-{os.getpid()}.sqlite3")}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
