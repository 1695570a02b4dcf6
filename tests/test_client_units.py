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


def test_the_client_accepts_exactly_the_room_ids_the_server_accepts() -> None:
    """One rule, two copies: the client's ``ROOM_ID`` (signaling.js) answers as ``signaling.protocol`` does."""
    import json

    from signaling.protocol import is_valid_room_id

    candidates = [
        "lobby",
        "a",
        "A-z_0.9:x",
        ".",
        "..",
        "...",
        ".a",
        "a.",
        "a" * 128,
        "a" * 129,
        "",
        " ",
        "a b",
        "é",
        "a/b",
        "a\\\\b",
        "a?b",
        "%2e",
        "-",
        "_",
        ":",
        "..:",
        "\u00a0",
        "a\n",
    ]
    script = (
        "import('./frontend/static/frontend/webrtc/signaling.js').then(({ ROOM_ID }) =>"
        f" console.log(JSON.stringify({json.dumps(candidates)}.map((id) => ROOM_ID.test(id)))))"
    )
    node = shutil.which("node")
    assert node is not None
    result = subprocess.run(
        [node, "--input-type=module", "-e", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    client = json.loads(result.stdout)
    assert dict(zip(candidates, client, strict=True)) == {room: is_valid_room_id(room) for room in candidates}
