"""The test matrix: Django 5.2 LTS on Python 3.11 and Django 6.1 on Python 3.13, each on a lock of every package
the suite installs (requirements/, with hashes; refreshed by scripts/lock.sh). `./scripts/test.sh` runs both legs;
`nox -s "tests-3.11"` runs one.

`nox -s latest` (not part of the test command) runs the suite on the newest releases that pyproject.toml's ranges
admit, so that an upstream release that breaks us is seen before a lock refresh takes it in.

Each session has a virtualenv of its own under .nox/ (kept between runs) and runs the whole suite with the
arguments given after `--`, except that the legs after the first leave out the `browser` tests (everything under
tests/browser: Chromium pages, the browser clients, the real Agentuity client), the `soak` tests (calls held for
a minute or more), the `network` tests (calls across networks of the test's own) and the `sfu_media` tests (media
through Janus), which test Chromium, the JavaScript clients, coturn, Janus and aiortc rather than a Django or
Python version (the server's side of each of them, its consumer, registry, admin, REST API and templates, has
tests of its own outside tests/browser that every leg runs), so that both legs fit the suite's time budget;
`nox -s "tests-3.13" -- -m ""` runs them there too.
"""

from __future__ import annotations

import nox

nox.options.reuse_existing_virtualenvs = True
# A machine without Python 3.13 runs the first leg only; scripts/test.sh says so before it starts.
nox.options.error_on_missing_interpreters = False
nox.options.sessions = ["tests"]

#: The markers of the tests that the legs after the first leave out (see the module's docstring).
SECOND_LEGS_LEAVE_OUT = "not browser and not soak and not network and not sfu_media"

#: Each leg's lock.
LOCKS = {"3.11": "requirements/py3.11-django5.2.txt", "3.13": "requirements/py3.13-django6.1.txt"}


@nox.session(python=list(LOCKS))
def tests(session: nox.Session) -> None:
    """The whole suite on one leg of the matrix, on its lock."""
    assert session.python is not None
    session.install("-r", LOCKS[str(session.python)])
    # The project itself, with nothing more resolved (the lock has setuptools, its build backend).
    session.install("--no-deps", "--no-build-isolation", "-e", ".")
    first_leg = session.python == next(iter(LOCKS))
    chosen = "-m" in session.posargs
    only_first = [] if first_leg or chosen else ["-m", SECOND_LEGS_LEAVE_OUT]
    session.run("python", "-m", "pytest", *only_first, *session.posargs)


@nox.session(python="3.13", reuse_venv=False)
def latest(session: nox.Session) -> None:
    """The whole suite on the newest releases within pyproject.toml's ranges (no lock)."""
    session.install("--upgrade", "-r", "requirements/rtcsite.in", "-e", ".[all,test]")
    session.run("python", "-m", "pip", "list", "--format=freeze")
    session.run("python", "-m", "pytest", *session.posargs)
