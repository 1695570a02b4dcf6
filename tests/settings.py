"""The reference project's settings, with a test database in a file that a daphne subprocess can share."""

import os
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from rtcsite.settings import *  # noqa: F403
from rtcsite.settings import DATABASES

# A file, not SQLite's in-memory default: end-to-end tests run the server in another process on this database.
DATABASES["default"]["TEST"] = {"NAME": str(Path(tempfile.gettempdir()) / f"rtcsite-test-{os.getpid()}.sqlite3")}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# The machine's PostgreSQL, for the tests of what only PostgreSQL shows (query plans at scale, concurrent index
# builds). A test reads and writes there through ``tests.routing.using_database("postgres")``; the database is
# created only when such a test is collected.
_postgres = urlsplit(os.environ.get("RTC_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
DATABASES["postgres"] = {
    "ENGINE": "django.db.backends.postgresql",
    "NAME": "postgres",
    "USER": _postgres.username or "",
    "PASSWORD": _postgres.password or "",
    "HOST": _postgres.hostname or "",
    "PORT": str(_postgres.port or ""),
    "TEST": {"NAME": f"test_rtc_{os.getpid()}"},
}
DATABASE_ROUTERS = ["tests.routing.SelectedDatabaseRouter"]
