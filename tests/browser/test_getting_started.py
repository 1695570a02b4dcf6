"""docs/getting-started.md, word for word: a new project from `django-admin startproject`, the page's code blocks
appended or written where they say, migrate, runserver, and two Chromium pages in a call through it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

from playwright.sync_api import Browser

from rtcsite.servers import ROOT, free_port, wait_for_port
from tests.browser.conftest import fresh_page

GUIDE = ROOT / "docs" / "getting-started.md"
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.S)
TARGET = re.compile(r"# (\S+) \((append|replace)\)\n")


def guide_blocks() -> list[tuple[str, str]]:
    return [(language, code) for language, code in BLOCK.findall(GUIDE.read_text())]


def run(command: str, cwd: Path, env: dict[str, str]) -> None:
    done = subprocess.run(command, shell=True, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{command}: {done.stdout[-2000:]}{done.stderr[-2000:]}"


def test_getting_started_word_for_word_gives_a_working_call(browser: Browser, tmp_path: Path) -> None:
    # A virtualenv of the new project's own: the page's `pip install`, from this clone instead of a git URL, is all
    # it gets (so the extras the page names must be enough); nothing of the suite's settings.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=120)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "VIRTUAL_ENV"))}
    env["PATH"] = str(venv / "bin") + os.pathsep + env.get("PATH", "")
    blocks = guide_blocks()
    shell = [code for language, code in blocks if language == "sh"]
    project = tmp_path
    for line in shell[0].splitlines():
        command = line.split("#", 1)[0].strip()
        if command.startswith("cd "):
            project = project / command[3:]
        elif command.startswith("pip install"):
            assert "git+<this repository>" in command
            run(
                command.replace("git+<this repository>", ROOT.as_uri()).replace("pip install", "pip install -q", 1),
                project,
                env,
            )
        elif command:
            run(command, project, env)
    applied = []
    for language, code in blocks:
        match = TARGET.match(code)
        if language != "python" or match is None:
            continue
        path, mode = match.groups()
        target = project / path  # the project's directory holds manage.py and the mysite package
        if mode == "append":
            target.write_text(target.read_text() + "\n" + code)
        else:
            target.write_text(code)
        applied.append((path, mode))
    assert applied == [("mysite/settings.py", "append"), ("mysite/urls.py", "append"), ("mysite/asgi.py", "replace")]

    run_block = shell[-1].splitlines()
    assert run_block == ["python manage.py migrate", "python manage.py runserver"]
    run(run_block[0], project, env)
    port = free_port()
    server = subprocess.Popen(
        [*run_block[1].split(), f"127.0.0.1:{port}", "--noreload"],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, timeout=60)
        room = f"hello-{uuid.uuid4().hex[:8]}"
        pages = []
        for name in ("Ada", "Bob"):
            page = fresh_page(browser, f"http://127.0.0.1:{port}/rtc/call/{room}/")
            page.fill("#name", name)
            page.click("#join")
            pages.append(page)
        for page, other in zip(pages, ("Bob", "Ada"), strict=True):
            page.wait_for_function(
                "window.call.state === 'connected' && [...window.call.links.values()].some((l) => l.isConnected)"
            )
            page.locator("figure.remote .name", has_text=other).wait_for()
        for page in pages:
            page.context.close()
    finally:
        server.terminate()
        output = server.communicate(timeout=10)[0].decode(errors="replace")
        print(output[-4000:])
