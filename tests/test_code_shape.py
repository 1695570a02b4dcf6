"""The code's shape, as issue 20 set it: the relay path in short functions, the registry in small files."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIGNALING = ROOT / "signaling"

#: The modules a relayed frame passes through, from the socket to the other peer's socket.
RELAY_PATH = [
    SIGNALING / "consumer.py",
    SIGNALING / "local_peer.py",
    SIGNALING / "client_frames.py",
    SIGNALING / "protocol.py",
    SIGNALING / "transport.py",
    *sorted((SIGNALING / "registry").rglob("*.py")),
]
MAX_FUNCTION_LINES = 60
MAX_REGISTRY_FILE_LINES = 400


def function_lengths(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(), str(path))
    return [
        (f"{path.relative_to(ROOT)}:{node.lineno} {node.name}", (node.end_lineno or node.lineno) - node.lineno + 1)
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    ]


def test_no_function_on_the_relay_path_is_over_60_lines() -> None:
    assert all(path.exists() for path in RELAY_PATH)
    too_long = [(where, lines) for path in RELAY_PATH for where, lines in function_lengths(path)]
    assert len(too_long) > 50  # the walk found the functions
    assert [(where, lines) for where, lines in too_long if lines > MAX_FUNCTION_LINES] == []


def test_no_file_of_the_registry_is_over_400_lines() -> None:
    sizes = {
        str(path.relative_to(ROOT)): len(path.read_text().splitlines())
        for path in (SIGNALING / "registry").rglob("*.py")
    }
    assert len(sizes) >= 10
    assert {name: size for name, size in sizes.items() if size > MAX_REGISTRY_FILE_LINES} == {}


def async_predicates_waited_on(path: Path) -> list[str]:
    """Where ``path`` hands Playwright's ``wait_for_function`` an async function: it takes the Promise for a truthy
    value at once, and the wait passes whatever the function would resolve to."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args):
            continue
        if node.func.attr != "wait_for_function":
            continue
        first = node.args[0]
        if isinstance(first, ast.JoinedStr):
            first = first.values[0] if first.values else first
        if (
            isinstance(first, ast.Constant)
            and isinstance(first.value, str)
            and first.value.lstrip().startswith("async")
        ):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_no_test_waits_on_an_async_function_with_wait_for_function() -> None:
    """An async predicate goes to ``rtcsite.servers.wait_for_async``, which awaits it."""
    files = sorted([*(ROOT / "tests").rglob("*.py"), *(ROOT / "bench").rglob("*.py")])
    assert len(files) > 50
    assert [where for path in files for where in async_predicates_waited_on(path)] == []
