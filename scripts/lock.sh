#!/usr/bin/env bash
# Refresh the locks in requirements/: every Python package the suite, the demo and the docs build install, pinned
# with hashes, one lock per leg of the test matrix (noxfile.py) and the demo's subset of the first leg's. They are
# written from pyproject.toml's ranges and extras and requirements/*.in by uv, itself pinned in
# requirements/tools.txt. Run it, run ./scripts/test.sh, commit the locks together.
#   ./scripts/lock.sh              newest releases within the ranges
#   ./scripts/lock.sh -P redis     only that package moves (uv's --upgrade-package; -P may repeat)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements/tools.txt
packages=()
while [ "$#" -gt 0 ]; do
    case "$1" in
        -P) packages+=(--upgrade-package "$2"); shift 2 ;;
        *) echo "lock.sh: unknown argument $1 (use -P PACKAGE)" >&2; exit 2 ;;
    esac
done
upgrade=("${packages[@]}")
[ "${#packages[@]}" -gt 0 ] || upgrade=(--upgrade)
compile=(.venv/bin/python -m uv pip compile --quiet --generate-hashes --no-strip-extras
         --custom-compile-command ./scripts/lock.sh)
"${compile[@]}" "${upgrade[@]}" --python-version 3.11 --extra all --extra test \
    pyproject.toml requirements/rtcsite.in requirements/django-5.2.in -o requirements/py3.11-django5.2.txt
"${compile[@]}" "${upgrade[@]}" --python-version 3.13 --extra all --extra test \
    pyproject.toml requirements/rtcsite.in requirements/django-6.1.in -o requirements/py3.13-django6.1.txt
# The demo (scripts/demo.sh): the reference project's server on the first leg's versions, on any Python >= 3.11.
"${compile[@]}" "${upgrade[@]}" --universal --python-version 3.11 --extra daphne --extra api --extra redis \
    -c requirements/py3.11-django5.2.txt \
    pyproject.toml requirements/rtcsite.in requirements/django-5.2.in -o requirements/demo.txt
# The tool itself moves only when asked: ./scripts/lock.sh -P uv.
"${compile[@]}" "${packages[@]}" --python-version 3.11 requirements/tools.in -o requirements/tools.txt
