"""The test matrix: Django 5.2 LTS on Python 3.11 (the pins of requirements.txt) and the newest Django, 6.1, on the
newest Python this machine has, 3.13. `./scripts/test.sh` runs both legs; `nox -s "tests-3.11"` runs one.

Each leg has a virtualenv of its own under .nox/ (kept between runs), the project installed editable with every
extra, and runs the whole suite with the arguments given after `--`.
"""

from __future__ import annotations

import nox

nox.options.reuse_existing_virtualenvs = True
# A machine without Python 3.13 runs the first leg only; scripts/test.sh says so before it starts.
nox.options.error_on_missing_interpreters = False

#: What the newest leg runs on, tested together (requirements.txt holds the first leg's).
NEWEST = [
    "Django==6.1.3",
    "channels==4.3.2",
    "daphne==4.2.3",
    "channels-redis==4.3.0",
    "djangorestframework==3.18.3",
    "drf-spectacular==0.30.0",
    "drf-spectacular-sidecar==2026.10.1",
    "prometheus-client==0.26.0",
    "psycopg[binary]==3.3.9",
]
LEGS = {"3.11": ["-r", "requirements.txt"], "3.13": NEWEST}


@nox.session(python=list(LEGS))
def tests(session: nox.Session) -> None:
    """The whole suite on one leg of the matrix."""
    assert session.python is not None
    session.install(*LEGS[str(session.python)], "-e", ".[all,test]")
    session.run("python", "-m", "pytest", *session.posargs)
