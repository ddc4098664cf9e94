"""Browser tests: Debian's Chromium driven by Playwright, against `router run`.

Playwright's own browser download is never used: `executable_path` points at
/usr/bin/chromium (CI installs it, `.ci/run`). A missing Chromium fails these
tests; it does not skip them. The flags keep Chromium off the network it
would otherwise call home on (component updates, sync, QUIC probes).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Playwright, sync_playwright

_HERE = Path(__file__).resolve().parent
for folder in (_HERE, _HERE.parent / "integration"):  # servers.py: the shared secrets and ports
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from e2e_browser import CHROMIUM, CHROMIUM_ARGS, LAPTOP, Tab  # noqa: E402
from e2e_daemon import Daemon  # noqa: E402 - both need the path above


# Module scope, not session: while sync Playwright runs, its event loop is the
# thread's running loop, and the asyncio tests after these could not start theirs.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    assert CHROMIUM.exists(), "Chromium is missing: apt-get install -y chromium (.ci/run does)"
    launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield launched
    launched.close()


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
