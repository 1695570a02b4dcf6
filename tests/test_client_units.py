"""The browser client's unit tests (tests/js, Node's built-in test runner) run with the suite."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_client_unit_tests_pass() -> None:
    node = shutil.which("node")
    assert node is not None, "Node.js is needed (scripts/bootstrap.sh installs it)"
    result = subprocess.run([node, "--test", "tests/js/"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "# fail 0" in result.stdout
    assert "# pass 0" not in result.stdout
