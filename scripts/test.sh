#!/usr/bin/env bash
# Install everything the tests need (system packages too, when root) and run the whole suite on both legs of the
# test matrix (noxfile.py): Django 5.2 on Python 3.11, Django 6.1 on Python 3.13. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh --test
# pyenv's interpreters, where this machine has them, are the matrix's newer Pythons.
for bin in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.13*/bin; do
    [ -x "$bin/python3.13" ] && PATH="$PATH:$bin"
done
export PATH
legs=("tests-3.11")
if command -v python3.13 >/dev/null 2>&1; then
    legs+=("tests-3.13")
else
    echo "test.sh: no Python 3.13 on this machine: the Django 6.1 leg is skipped (install python3.13 to run it)." >&2
fi
exec .venv/bin/python -m nox --sessions "${legs[@]}" -- "$@"
