"""Headless Chromium for the browser checks: Debian's ``chromium`` package driven by Playwright.

Nothing is downloaded at run time (no ``playwright install``): Playwright is pointed at the system binary. CI
(``.ci/run``) installs ``chromium``; where it is absent locally, the browser tests skip and say how to get it.
Screenshots go to ``runs/screenshots/`` (ignored by git), kept as the tests' artifacts.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import re
import shutil
import socket
import tempfile
import threading
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "runs" / "screenshots"
CLAIM_LINE = re.compile(r"^(PASS|FAIL)\s{2}\S.*$")  # the stable line a claim check prints
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


def chromium_path() -> str | None:
    """The system Chromium (``$FEATURELAB_CHROMIUM``, else ``chromium`` on PATH), or None."""
    env = os.environ.get("FEATURELAB_CHROMIUM")
    if env:
        return env if Path(env).is_file() else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


def require_browser() -> str:
    """The Chromium binary; skip with a clear reason when Chromium or Playwright is missing (fail instead when
    ``CI`` is set: there the checks must run)."""
    path = chromium_path()
    try:
        import playwright  # noqa: F401
    except ImportError:
        path = None
        why = 'Playwright is not installed: pip install -e ".[test]"'
    else:
        why = "no Chromium: apt-get install chromium (CI's .ci/run installs it)"
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"browser checks must run in CI, but {why}")
        pytest.skip(why)
    return path


@contextlib.contextmanager
def browser_context(viewport=(1400, 900)):
    """A Playwright browser context on a fresh, empty profile; closed (and the profile removed) afterwards."""
    exe = require_browser()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="featurelab-chromium-") as profile, sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            profile, executable_path=exe, headless=True, args=ARGS,
            viewport={"width": viewport[0], "height": viewport[1]})
        try:
            yield ctx
        finally:
            ctx.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(folder: Path):
    """Serve ``folder`` over HTTP on a free 127.0.0.1 port; yields the base URL."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=str(folder), **k)

        def log_message(self, *a):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Quiet)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def screenshot(page, name: str, full_page: bool = False) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    page.screenshot(path=str(path), full_page=full_page)
    return path


def expected_outputs(paper) -> tuple[int, list[str]]:
    """(number of PNG figures, claim lines) in the committed outputs of ``paper``'s notebook."""
    nb = json.loads(paper.path.read_text())
    figures, claims = 0, []
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            figures += "image/png" in out.get("data", {})
            text = out.get("text") or out.get("data", {}).get("text/plain", "")
            text = "".join(text) if isinstance(text, list) else text
            claims += [line.rstrip() for line in text.splitlines() if CLAIM_LINE.match(line)]
    return figures, claims
