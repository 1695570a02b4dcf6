"""`pip install .` gives another project the three apps with their templates, static files and migrations."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_carries_the_apps(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(tmp_path),
         str(ROOT)],
        check=True, capture_output=True,
    )
    (wheel,) = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in [
        "signaling/consumer.py", "signaling/registry/memory.py", "signaling/py.typed",
        "rooms/models.py", "rooms/migrations/0001_initial.py", "rooms/py.typed",
        "frontend/templates/frontend/lobby.html", "frontend/templates/frontend/call.html",
        "frontend/static/frontend/demo/call.js", "frontend/static/frontend/webrtc/index.js",
        "frontend/static/frontend/webrtc/react.js", "frontend/static/frontend/webrtc/types.js",
    ]:
        assert required in names
    assert not any(name.startswith(("tests/", "rtcsite/", "bench/")) for name in names)
