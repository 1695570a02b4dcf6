"""`pip install .` gives another project the three apps with their templates, static files and migrations."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_carries_the_apps(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
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
    # One version, read from signaling.__version__; the extras people deploy with; typed.
    from signaling import __version__

    (metadata_name,) = [name for name in names if name.endswith(".dist-info/METADATA")]
    metadata = zipfile.ZipFile(wheel).read(metadata_name).decode()
    assert f"\nVersion: {__version__}\n" in metadata
    extras = {line.split(": ", 1)[1] for line in metadata.splitlines() if line.startswith("Provides-Extra: ")}
    assert {"redis", "api", "daphne", "peer", "all"} <= extras
    assert "Classifier: Typing :: Typed" in metadata
    # The endpoint alone needs Django and Channels, not the REST API, Redis or an ASGI server.
    required = [line for line in metadata.splitlines() if line.startswith("Requires-Dist: ") and "extra ==" not in line]
    assert not [line for line in required if any(name in line for name in ("djangorestframework", "daphne", "redis"))]


def test_the_npm_package_has_the_python_packages_version() -> None:
    import json

    from signaling import __version__

    npm_version = json.loads((ROOT / "frontend/static/frontend/webrtc/package.json").read_text())["version"]
    # PEP 440's 0.2.0.dev0 is semver's 0.2.0-dev.0: one release, one number.
    assert npm_version == __version__.replace(".dev", "-dev.")
