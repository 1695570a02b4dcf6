"""Static checks run with the suite: mypy --strict on the apps, ruff's linter and formatter on everything (all set in
pyproject.toml), TypeScript on the browser client's JSDoc types (tsconfig.json) and prettier on the JavaScript and
CSS (.prettierrc.json; ``npm run format`` rewrites what it refuses)."""

import subprocess
import sys
from pathlib import Path

from mypy import api

ROOT = Path(__file__).resolve().parent.parent


def test_mypy_strict_passes() -> None:
    stdout, stderr, status = api.run([])
    assert status == 0, stdout + stderr


def test_ruff_passes() -> None:
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_passes() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "."], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, "run `ruff format .`:\n" + result.stdout + result.stderr


def test_prettier_passes() -> None:
    assert (ROOT / "node_modules" / ".bin" / "prettier").exists(), "node_modules is missing: run npm ci"
    result = subprocess.run(["npm", "run", "-s", "format:check"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, "run `npm run format`:\n" + result.stdout + result.stderr


def test_client_types_check() -> None:
    tsc = ROOT / "node_modules" / ".bin" / "tsc"
    assert tsc.exists(), "node_modules is missing: scripts/test.sh installs it (npm ci)"
    result = subprocess.run([str(tsc), "-p", "tsconfig.json"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
