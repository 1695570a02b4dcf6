#!/usr/bin/env bash
# Shared set-up of scripts/demo.sh and scripts/test.sh: system packages (as root on Debian, only those missing),
# then the virtualenv in .venv and the Python packages. Usage: bootstrap.sh [--test]
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
if [ "${1:-}" = "--test" ]; then
    want_test=1
fi

system_packages=(python3)
if [ "$want_test" = 1 ]; then
    # The tests run their own redis-server, nginx, coturn (turnserver) and Janus (the SFU) processes, a real
    # PostgreSQL and a real Chromium, and hosts of their own in network namespaces (iproute2's ip netns); Node.js
    # type-checks the browser client and bundles the React test page.
    system_packages+=(redis-server nginx postgresql chromium coturn iproute2 janus janus-tools)
    command -v npm >/dev/null 2>&1 || system_packages+=(nodejs npm)
fi
# Debian's python3 needs python3-venv for `-m venv`; a Python that brings ensurepip (pyenv, say) does not.
python3 -c 'import ensurepip' >/dev/null 2>&1 || system_packages+=(python3-venv)

missing=()
if command -v dpkg >/dev/null 2>&1; then
    for package in "${system_packages[@]}"; do
        dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
    done
fi
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "Installing system packages: ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "Missing system packages (install them, or run as root): ${missing[*]}" >&2
    fi
fi

if [ "$want_test" = 1 ] && [ "$(id -u)" = 0 ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    # Debian's janus package starts a Janus of its own with /etc/janus's sample configuration (its API open on
    # every interface, a published admin secret): the tests start their own, so that one is stopped for good.
    systemctl disable --now janus.service >/dev/null 2>&1 || true
fi

if [ "$want_test" = 1 ] && command -v pg_lsclusters >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    # Debian installs clusters without starting them where no init system runs (containers, CI).
    pg_lsclusters --no-header | while read -r version cluster _port status _; do
        if [ "$status" != "online" ]; then
            pg_ctlcluster --skip-systemctl-redirect "$version" "$cluster" start
        fi
    done
fi

python=$(command -v python3.11 || command -v python3)
"$python" -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11 or newer is needed"'
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
# Every package comes from a lock with hashes (requirements/, refreshed by scripts/lock.sh): a fresh machine gets
# exactly what the suite last passed with. The project itself goes in editable, with nothing more resolved.
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
if [ "$want_test" = 1 ]; then
    "${pip[@]}" -r requirements/py3.11-django5.2.txt
    "${pip[@]}" --no-deps --no-build-isolation -e .
else
    "${pip[@]}" -r requirements/demo.txt
fi
if [ "$want_test" = 1 ]; then
    # TypeScript (checks the client's JSDoc types), esbuild and React (the React hook's test page).
    npm ci --no-audit --no-fund --loglevel=error
fi
