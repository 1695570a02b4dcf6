"""Settings of the reference project.

The embedded default needs nothing: SQLite beside this file and an in-process channel layer. The environment
overrides it for deployment:

- ``RTCSITE_DATABASE_URL``: ``sqlite:////abs/path.sqlite3`` or ``postgres://user@host:5432/name``.
- ``REDIS_URL``: ``redis://host:6379/0`` (or ``redis+sentinel://s1:26379,s2:26379/master/0``) moves rooms to
  Redis, shared by every worker pointing at it (and
  makes Redis the channel layer for any other consumer).
- ``SIGNALING_ICE_SERVERS``: JSON list of RTCIceServer dicts sent to clients (``[]``: none, host candidates only).
- ``SIGNALING_WORKER_TIMEOUT``: seconds before a silent worker's peers leave with reason ``timeout``.
- ``SIGNALING_SETTINGS``: a JSON object of any other ``SIGNALING`` keys (limits, say).
- ``DJANGO_SECRET_KEY``: without it, a random key made for this install and kept in ``.secret_key`` beside
  ``manage.py`` (``RTCSITE_SECRET_KEY_FILE`` names another file). Set it wherever workers on several machines
  must read each other's tokens.
- ``DJANGO_DEBUG``: ``1`` turns debug on (off by default); ``DJANGO_ALLOWED_HOSTS`` (comma-separated; by default
  the local host names only).
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from urllib.parse import unquote, urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent


def local_secret_key(path: Path) -> str:
    """This install's own random key, made on first use and kept in ``path`` (git-ignored, readable by the owner
    only). No key published with the code ever signs anything: room tokens and resume tokens are signed with it."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    key = secrets.token_urlsafe(50)
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(key + "\n")
    try:
        # A link fails if the file exists: of several workers starting at once, the first one's key is everyone's.
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        temporary.unlink()
    return path.read_text().strip()


DEBUG = os.environ.get("DJANGO_DEBUG", "0") == "1"
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or local_secret_key(
    Path(os.environ.get("RTCSITE_SECRET_KEY_FILE", BASE_DIR / ".secret_key"))
)
ALLOWED_HOSTS = [h for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",") if h]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    # API tokens for scripts and services: staff create one per user in the admin (Auth Token > Tokens) or with
    # `manage.py drf_create_token <username>`; requests send `Authorization: Token <key>`.
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "signaling",
    "rooms",
    "frontend",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "rtcsite.urls"
ASGI_APPLICATION = "rtcsite.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def database_from_url(url: str) -> dict[str, object]:
    """A DATABASES entry from ``sqlite:///path`` or ``postgres://user:password@host:port/name``."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": unquote(parts.path[1:]) if parts.path.startswith("//") else unquote(parts.path.lstrip("/")),
            # WAL lets the recorder's writes and the resolver's reads go on at once.
            "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL;", "transaction_mode": "IMMEDIATE"},
        }
    if parts.scheme in ("postgres", "postgresql"):
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.lstrip("/")),
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
        }
    raise ValueError(f"Unsupported database URL scheme {parts.scheme!r}")


DATABASES = {
    "default": database_from_url(os.environ.get("RTCSITE_DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"))
}

CHANNEL_LAYERS: dict[str, dict[str, object]] = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

SIGNALING: dict[str, object] = {
    "ROOM_RESOLVER": "rooms.resolver.ModelRoomResolver",
}

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    SIGNALING["REDIS_URL"] = REDIS_URL
    from signaling.registry.connection import layer_host, parse_redis_url

    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [layer_host(parse_redis_url(REDIS_URL))]},
        }
    }
if os.environ.get("SIGNALING_ICE_SERVERS"):
    SIGNALING["ICE_SERVERS"] = json.loads(os.environ["SIGNALING_ICE_SERVERS"])
if os.environ.get("SIGNALING_WORKER_TIMEOUT"):
    SIGNALING["WORKER_TIMEOUT"] = float(os.environ["SIGNALING_WORKER_TIMEOUT"])
if os.environ.get("SIGNALING_SETTINGS"):
    # Any other SIGNALING key, as a JSON object: SIGNALING_SETTINGS='{"MAX_SOCKETS_PER_ADDRESS": 256}'.
    SIGNALING.update(json.loads(os.environ["SIGNALING_SETTINGS"]))

REST_FRAMEWORK = {
    # A token for scripts and services (one indexed lookup a request; first, so that a request without credentials
    # gets 401 with `WWW-Authenticate: Token`); the session for pages of the site (CSRF-checked writes); HTTP Basic,
    # throttled, for a person trying the API by hand (each request hashes the password).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
        "rooms.authentication.ThrottledBasicAuthentication",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Django RTC rooms API",
    "DESCRIPTION": "Rooms with live occupancy, moderation of live calls, room tokens and recordings.",
    "VERSION": "1",
    # Swagger UI served from this site's static files, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "SERVE_INCLUDE_SCHEMA": False,
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Uploaded recordings (Django's default storage). Not served by the site as public files: downloads go through
# the API, which checks who may have them.
MEDIA_ROOT = Path(os.environ.get("RTCSITE_MEDIA_ROOT", BASE_DIR / "media"))

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "signaling": {"handlers": ["console"], "level": "INFO"},
        "rooms": {"handlers": ["console"], "level": "INFO"},
    },
}
