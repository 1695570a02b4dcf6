"""The legs of the test matrix (noxfile.py): the first runs everything; the later ones leave out exactly the tests
that test Chromium, the JavaScript clients, coturn, Janus and aiortc rather than a Django or Python version."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import noxfile

ROOT = Path(__file__).resolve().parent.parent


def collected(*arguments: str) -> set[str]:
    """The ids pytest collects with these arguments (in a process of its own: collection imports every module)."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return {line for line in result.stdout.splitlines() if "::" in line}


def test_the_later_legs_leave_out_every_browser_test_and_keep_every_other_plain_one() -> None:
    everything = collected()
    later_leg = collected("-m", noxfile.SECOND_LEGS_LEAVE_OUT)
    browser = {test for test in everything if test.startswith("tests/browser/")}
    assert browser, "no browser tests collected"
    # Every browser test carries the marker, whichever module it is in (one without it would be collected here).
    assert not later_leg & browser
    # What the later legs run: every test outside tests/browser but the few media and soak ones marked so.
    assert later_leg <= everything - browser
    left_out_elsewhere = everything - browser - later_leg
    assert len(left_out_elsewhere) < 10, sorted(left_out_elsewhere)
