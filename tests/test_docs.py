"""The documentation site builds from docs/ with no warning (a broken link or reference is one)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_docs_build_without_warnings(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", "docs", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stderr
    for page in (
        "index",
        "getting-started",
        "configuration",
        "client",
        "protocol",
        "rest-api",
        "deployment",
        "operations",
        "limits",
        "architecture",
    ):
        assert (tmp_path / f"{page}.html").exists(), page


def test_every_page_of_docs_is_in_the_site() -> None:
    # Sphinx warns about a page in no toctree; this says which, before a build.
    index = (ROOT / "docs" / "index.md").read_text()
    pages = {path.stem for path in (ROOT / "docs").glob("*.md")} - {"index"}
    assert {page for page in pages if f"\n{page}\n" not in index} == set()


def test_the_python_examples_of_the_docs_are_python() -> None:
    """Every ```python block of docs/ compiles (top-level await allowed: the Python peer's examples are async); the
    getting-started ones also run, in tests/browser/test_getting_started.py, and the TypeScript ones type-check in
    tests/browser/test_npm_package.py."""
    import ast
    import re

    blocks = [
        (path.name, code)
        for path in sorted((ROOT / "docs").glob("*.md"))
        for code in re.findall(r"```python\n(.*?)```", path.read_text(), re.S)
    ]
    assert len(blocks) >= 5
    for name, code in blocks:
        compile(code, name, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)
