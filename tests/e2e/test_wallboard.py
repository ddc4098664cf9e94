"""The wallboard in Chromium: sign in, then watch figures change without a reload."""

from __future__ import annotations

import re

import pytest
from conftest import Tab
from daemon import ADMIN, Daemon
from playwright.sync_api import expect

pytestmark = pytest.mark.integration


def test_the_wallboard_signs_in_and_follows_arrivals_live(tab: Tab, daemon: Daemon) -> None:
    page = tab.page
    page.goto(daemon.base + "/wallboard")
    page.fill("input[name=token]", "not-a-token")
    page.click("button[type=submit]")
    expect(page.locator("#signin-error")).to_contain_text("not valid")

    page.fill("input[name=token]", ADMIN)
    page.click("button[type=submit]")
    support = page.locator('[data-queue="support"]')
    expect(support.locator('[data-field="waiting"]')).to_have_text("0")
    for name in ("sales", "billing", "complaints", "overflow"):
        expect(page.locator(f'[data-queue="{name}"]')).to_be_visible()
    expect(support.locator('[data-field="service_level"]')).to_have_text("100%")
    expect(support.locator('[data-field="agents_available"]')).to_have_text("0")

    # a marker a reload would wipe: the figures below must change in this same document
    page.evaluate("window.__sameDocument = true")
    for n in range(3):
        daemon.contact(channel="chat", customer={"name": f"Caller {n}"}, body="hello")
    expect(support.locator('[data-field="waiting"]')).to_have_text("3")
    expect(support).to_have_class(re.compile(r"\bwaiting\b"))
    # the longest wait keeps counting up between events
    expect(support.locator('[data-field="longest_wait_seconds"]')).not_to_have_text("0s")
    # the last hour's chart has this minute's bar
    expect(support.locator("svg.chart rect.bar")).to_have_count(1)

    daemon.agent("ada", name="Ada", skills={"support": 7}, capacity={"chat": 3})
    expect(support.locator('[data-field="agents_available"]')).to_have_text("0")
    assert page.evaluate("window.__sameDocument") is True
    tab.screenshot("wallboard.png")
    assert tab.errors == []
