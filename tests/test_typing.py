"""The apps are fully typed: mypy --strict (configured in pyproject.toml) finds nothing."""

from mypy import api


def test_mypy_strict_passes() -> None:
    stdout, stderr, status = api.run([])
    assert status == 0, stdout + stderr
