#!/usr/bin/env bash
# Install what the demo needs and run it on the embedded default (SQLite, in-process rooms) at
# http://127.0.0.1:8000/
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
.venv/bin/python manage.py migrate --noinput
echo "Open http://127.0.0.1:8000/ (admin: .venv/bin/python manage.py createsuperuser, then /admin/)"
# Debug on for the demo only (runserver then serves the static files); the reference project's default is off.
export DJANGO_DEBUG="${DJANGO_DEBUG:-1}"
exec .venv/bin/python manage.py runserver "${DEMO_ADDRESS:-127.0.0.1:8000}"
