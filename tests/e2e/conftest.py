"""Browser tests: Debian's Chromium driven by Playwright, against `router run`.

Playwright's own browser download is never used: `executable_path` points at
/usr/bin/chromium (CI installs it, `.ci/run`). A missing Chromium fails these
tests; it does not skip them. The flags keep Chromium off the network it
would otherwise call home on (component updates, sync, QUIC probes).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, sync_playwright

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from daemon import ROOT, Daemon  # noqa: E402 - needs the path above

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "test-artifacts"
#: a laptop screen: the agent desktop must work there
LAPTOP = {"width": 1366, "height": 768}


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    assert CHROMIUM.exists(), "Chromium is missing: apt-get install -y chromium (.ci/run does)"
    launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield launched
    launched.close()


@dataclass
class Tab:
    """A page and everything it complained about."""

    page: Page
    errors: list[str] = field(default_factory=list)

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / name
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    running = Daemon(tmp_path)
    try:
        running.wait_ready()
        yield running
    finally:
        code = running.stop()
        print(f"--- router run log ---\n{running.log()[-4000:]}")
    # SIGTERM drains and exits 0, also with page streams open (they are closed first)
    assert code == 0, running.log()


@pytest.fixture
def tab(browser: Browser) -> Iterator[Tab]:
    context = browser.new_context(viewport=LAPTOP)
    page = context.new_page()
    found = Tab(page)

    def on_console(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            found.errors.append(f"console {message.type}: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: found.errors.append(f"page error: {error}"))
    try:
        yield found
    finally:
        context.close()
