"""The wallboard in Chromium: sign in, then watch figures change without a reload."""

from __future__ import annotations

import re

import pytest
from e2e_browser import Tab
from e2e_daemon import ADMIN, Daemon
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
    # the last hour's chart has this minute's bar (two, should the minute turn meanwhile)
    expect(support.locator("svg.chart rect.bar").first).to_be_visible()

    # a caller who hung up missed the target: the level drops below it, in colour and words
    first = daemon.contact(channel="chat", customer={"name": "Leaver"}, body="bye")
    status, _ = daemon.call("POST", f"/v1/contacts/{first['id']}/abandon")
    assert status == 200
    expect(support.locator('[data-field="service_level"]')).to_have_text("0%")
    expect(support).to_have_class(re.compile(r"\bbelow\b"))
    expect(support.locator(".sl-note")).to_contain_text("below 80%")
    # and the minute's service level is on the chart: the only minute that has one
    expect(support.locator("svg.chart circle.dot")).to_have_count(1)
    expect(support.locator("svg.chart")).to_have_attribute(
        "aria-label", "4 contacts in the last hour"
    )
    red = support.locator('[data-field="service_level"]').evaluate("e => getComputedStyle(e).color")
    assert red == "rgb(248, 81, 73)"

    # an agent who comes available is counted in the queues it serves
    token = daemon.agent("ada", name="Ada", skills={"support": 7}, capacity={"voice": 1})
    daemon.call("POST", "/v1/agents/ada/state", {"state": "available"}, token=token)
    expect(support.locator('[data-field="agents_available"]')).to_have_text("1")
    expect(page.locator('[data-agents="idle"]')).to_have_text("1")
    assert page.evaluate("window.__sameDocument") is True
    tab.screenshot("wallboard-laptop.png")
    page.set_viewport_size({"width": 1920, "height": 1080})  # a wall screen
    figure = support.locator('[data-field="waiting"]')
    # read from across the room: the figures grow with the screen
    assert float(figure.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")) >= 55
    tab.screenshot("wallboard.png")
    assert tab.errors == []

    # the router stops with the page open: the drain is not held up, the page says so
    assert daemon.stop() == 0
    expect(page.locator("#status")).to_contain_text("reconnecting")
