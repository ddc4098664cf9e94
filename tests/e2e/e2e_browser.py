"""What the browser tests share: Chromium's path and flags, and a tab that records errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from e2e_daemon import ROOT
from playwright.sync_api import Page

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
