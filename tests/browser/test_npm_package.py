"""The browser client as an npm package: `npm run client:pack` makes the tarball (the same ES modules the static
files serve, with .d.ts generated from their JSDoc); it installs into a new Vite + React + TypeScript app, whose
type check catches a misspelt option, whose build runs, and whose pages call each other through the Django server
in Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tarfile
import uuid
from pathlib import Path

from playwright.sync_api import Browser

from rtcsite.servers import ROOT
from tests.browser.conftest import BUILD, Site, fresh_page

APP = Path(__file__).resolve().parent / "vite_app"
PACKAGE = ROOT / "frontend/static/frontend/webrtc"
DOC_TSX = re.compile(r"```tsx\n(.*?)```", re.S)


def npm(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["npm", *args], cwd=cwd, capture_output=True, text=True, timeout=600, check=check)


def test_npm_pack_in_the_package_folder_ships_its_types(tmp_path: Path) -> None:
    """`npm pack` (and so `npm publish`) in the package's own folder, with no other step, builds the declarations
    (its `prepack`) and puts them in the tarball."""
    shutil.rmtree(PACKAGE / "types", ignore_errors=True)  # as in a fresh clone: types/ is built, not committed
    npm("pack", "--pack-destination", str(tmp_path), cwd=PACKAGE)
    (tarball,) = tmp_path.glob("django-rtc-client-*.tgz")
    with tarfile.open(tarball) as archive:
        names = set(archive.getnames())
    assert {"package/types/index.d.ts", "package/types/react.d.ts", "package/index.js", "package/react.js"} <= names
    assert "package/tsconfig.types.json" not in names


def test_the_npm_package_in_a_vite_react_typescript_app(browser: Browser, site: Site, tmp_path: Path) -> None:
    packed = tmp_path / "pack"
    packed.mkdir()
    npm("run", "--silent", "client:pack", "--", str(packed), cwd=ROOT)
    (tarball,) = packed.glob("django-rtc-client-*.tgz")
    version = json.loads((PACKAGE / "package.json").read_text())["version"]
    assert tarball.name == f"django-rtc-client-{version}.tgz"

    app = tmp_path / "app"
    shutil.copytree(APP, app)
    manifest = app / "package.json"
    manifest.write_text(manifest.read_text().replace("__TARBALL__", str(tarball)))
    npm("install", "--no-audit", "--no-fund", "--loglevel=error", cwd=app)
    installed = app / "node_modules" / "django-rtc-client"
    assert (installed / "types" / "react.d.ts").exists()
    assert (installed / "call.js").exists()

    # The docs' TypeScript examples are part of the app, so they are type-checked against the package as it ships.
    examples = [code for path in sorted((ROOT / "docs").glob("*.md")) for code in DOC_TSX.findall(path.read_text())]
    assert examples, "docs/ has TypeScript examples"
    for number, code in enumerate(examples):
        (app / "src" / f"doc_example_{number}.tsx").write_text(code)
    # The hook's types hold: the app type-checks, and a misspelt option does not.
    tsc = app / "node_modules" / ".bin" / "tsc"
    subprocess.run([str(tsc), "--noEmit", "-p", "."], cwd=app, check=True, capture_output=True, text=True)
    shutil.copy(app / "src" / "typo.tsx.txt", app / "src" / "typo.tsx")
    typo = subprocess.run([str(tsc), "--noEmit", "-p", "."], cwd=app, capture_output=True, text=True)
    assert typo.returncode != 0
    assert "autoConect" in typo.stdout
    (app / "src" / "typo.tsx").unlink()

    out = BUILD / "vite_app"
    vite = app / "node_modules" / ".bin" / "vite"
    subprocess.run(
        [str(vite), "build", "--base", "/static/vite_app/", "--outDir", str(out), "--emptyOutDir"],
        cwd=app,
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )

    room = f"vite-{uuid.uuid4().hex[:8]}"
    pages = [
        fresh_page(browser, f"{site.url}/static/vite_app/index.html?room={room}&name={name}") for name in ("Ada", "Bob")
    ]
    for page, other in zip(pages, ("Bob", "Ada"), strict=True):
        page.wait_for_function("document.getElementById('state')?.textContent === 'connected'")
        page.locator("#peers", has_text=other).wait_for()
    for page in pages:
        page.context.close()
