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
    # Every file of the three apps that git tracks (code, migrations, commands, templates, static files).
    tracked = subprocess.run(
        ["git", "ls-files", "signaling", "rooms", "frontend"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.split()
    assert "rooms/management/commands/prune_rooms.py" in tracked
    missing = [path for path in tracked if path not in names]
    assert not missing, f"left out of the wheel: {missing}"
    assert not any(name.startswith(("tests/", "rtcsite/", "bench/")) for name in names)
