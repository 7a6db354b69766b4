"""What the browser tests share: Debian's Chromium, the app (a `cooldown app` subprocess or served in-process),
signing in, screenshots, a request watch.

Chromium is Debian's (`/usr/bin/chromium`, installed by scripts/setup.sh); never `playwright install`.

Screenshots go to `.cooldown-cache/screenshots/` (ignored by git), so `make test` leaves the checkout
clean. Set `COOLDOWN_UPDATE_SCREENSHOTS=1` to write them to `docs/screenshots/` instead (the committed
pictures the README shows), then review and commit them.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import pytest

from benchmarks.common import wait_served

if TYPE_CHECKING:
    from simulator.config import Settings
    from simulator.ui.deps import AppDeps

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
UPDATE_SCREENSHOTS = "COOLDOWN_UPDATE_SCREENSHOTS"
STARTUP_S = 180


def screenshots_dir() -> Path:
    """docs/screenshots/ when COOLDOWN_UPDATE_SCREENSHOTS=1, else the ignored .cooldown-cache/screenshots/."""
    update = os.environ.get(UPDATE_SCREENSHOTS, "").strip().lower() in ("1", "true", "yes")
    folder = ROOT / "docs" / "screenshots" if update else ROOT / ".cooldown-cache" / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_served(url: str, proc: subprocess.Popen[bytes] | None, log: Path) -> None:
    """Until `url` answers 200; fails the test with the end of the log if the app died or never came up."""
    if not wait_served(url, proc, STARTUP_S, poll_s=0.5):
        pytest.fail("the app did not start:\n" + log.read_text(errors="replace")[-3000:])


@contextmanager
def cooldown_app(data: Path, gradio_tmp: Path, **settings: str) -> Iterator[str]:
    """`cooldown app` in a subprocess with a clean COOLDOWN_* environment plus `settings`; yields its URL.

    Its output (stdout and stderr) is kept in `data/app.log`.
    """
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("COOLDOWN_")}
    env.update(
        COOLDOWN_DATA_DIR=str(data), GRADIO_TEMP_DIR=str(gradio_tmp), COOLDOWN_LLM_GRADING="false",
        GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1", **settings,
    )  # fmt: skip
    log_path = data / "app.log"
    cmd = [str(Path(sys.executable).parent / "cooldown"), "app", "--port", str(port)]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}/"
        try:
            wait_until_served(url, proc, log_path)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


@contextmanager
def served_in_process(settings: Settings, deps: AppDeps) -> Iterator[str]:
    """The page built in this process on `deps` (a fake caller, no LLM), on a free loopback port; yields its URL."""
    from simulator.ui.app import build, launch_kwargs

    demo = build(settings, deps)
    demo.queue(default_concurrency_limit=16, max_size=100)
    port = free_port()
    demo.launch(**launch_kwargs(settings, "127.0.0.1", port), prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Debian Chromium driven by Playwright."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: run scripts/setup.sh (apt-get install chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def wait_settled(page: Any, timeout_ms: int = 30_000) -> None:
    """Until Gradio shows no "Loading..." or "processing" overlay (the app starting, an event running)."""
    page.wait_for_function(
        "() => !Array.from(document.querySelectorAll('.wrap')).some(e => /Loading|processing/.test(e.innerText))",
        timeout=timeout_ms,
    )


def sign_in(page: Any, user: str, password: str) -> None:
    """Fill Gradio's login form (the page with COOLDOWN_AUTH set); returns once the callers are shown."""
    page.locator("input[type=text], input[name=username]").first.fill(user)
    page.locator("input[type=password]").first.fill(password)
    page.get_by_role("button", name="Login").click()
    page.locator(".cd-card").first.wait_for(timeout=30_000)
    wait_settled(page)


def full_page_screenshot(page: Any, path: Path) -> None:
    """A full-page screenshot taken with the whole page in the viewport.

    CodeMirror (gr.Code) draws only the lines inside the viewport; a plain full-page screenshot shows the
    rest of a long code box blank.
    """
    size = page.viewport_size
    height = int(page.evaluate("() => document.documentElement.scrollHeight"))
    page.set_viewport_size({"width": size["width"], "height": max(height, size["height"])})
    try:
        page.wait_for_timeout(500)
        page.screenshot(path=str(path), full_page=True)
    finally:
        page.set_viewport_size(size)


class Watch:
    """Requests to hosts other than the app, and dialogs (an executed XSS would open one)."""

    def __init__(self, page: Any, url: str) -> None:
        self.outside: list[str] = []
        self.dialogs: list[str] = []
        app_host = urlparse(url).netloc
        page.on("request", lambda r: self._request(r.url, app_host))
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))

    def _request(self, url: str, app_host: str) -> None:
        parsed = urlparse(url)
        if parsed.scheme in ("http", "https", "ws", "wss") and parsed.netloc != app_host:
            self.outside.append(url)
