"""The agent desktop in Chromium: available → offer → accept → complete; keyboard only."""

from __future__ import annotations

import re

import pytest
from e2e_browser import Tab
from e2e_daemon import Daemon
from playwright.sync_api import expect

pytestmark = pytest.mark.integration

GRACE = {"id": "grace", "name": "Grace Hopper", "email": "grace@example.com", "phone": "+15550100"}
ADA = {"name": "Ada Lovelace", "skills": {"support": 7}, "languages": ["en"]}


def _earlier_contact(daemon: Daemon, contact_id: str, channel: str, subject: str) -> None:
    """A contact of Grace's that ended before today's (her history across channels)."""
    daemon.contact(id=contact_id, channel=channel, customer=GRACE, subject=subject, body="...")
    status, body = daemon.call("POST", f"/v1/contacts/{contact_id}/abandon")
    assert status == 200, body


def test_an_agent_takes_an_offer_through_to_complete(tab: Tab, daemon: Daemon) -> None:
    token = daemon.agent("ada", **ADA, capacity={"chat": 2, "email": 2})
    _earlier_contact(daemon, "old-mail", "email", "Invoice 1042 is wrong")
    _earlier_contact(daemon, "old-sms", "sms", "Call me back please")

    page = tab.page
    page.goto(daemon.base + "/agent")
    page.fill("input[name=token]", token)
    page.click("button[type=submit]")
    expect(page.locator("#agent-name")).to_have_text("Ada Lovelace")
    expect(page.locator("#agent-state")).to_have_text("offline")
    page.click('[data-action="available"]')
    expect(page.locator("#agent-state")).to_have_text("available")
    expect(page.locator('[data-action="available"]')).to_have_attribute("aria-pressed", "true")

    arrived = daemon.contact(
        id="chat-1",
        channel="chat",
        customer=GRACE,
        subject="Order 77 has not arrived",
        body="Hello,\nmy order 77 is a week late.\nCan you check?\nThanks",
    )
    assert arrived["state"] == "offered"
    offer = page.locator("[data-offer-id]")
    expect(offer).to_have_count(1)
    expect(offer).to_contain_text("Grace Hopper")
    expect(offer).to_contain_text("chat")
    expect(offer).to_contain_text("Order 77 has not arrived")
    expect(offer).to_contain_text("my order 77 is a week late.")
    # her recent contacts on every channel, as the offer carries them
    history = offer.locator(".history li")
    expect(history).to_have_count(2)
    expect(offer).to_contain_text("Invoice 1042 is wrong")
    expect(offer).to_contain_text("Call me back please")
    remaining = offer.locator('[data-field="remaining"]')
    expect(remaining).to_have_text(re.compile(r"^(1\d|20)s left$"))
    expect(remaining).not_to_have_text(remaining.inner_text())  # it counts down
    expect(page.locator("#announce")).to_contain_text("New chat offer from Grace Hopper")
    tab.screenshot("agent-offer.png")

    offer.locator('[data-action="accept"]').click()
    expect(page.locator("[data-offer-id]")).to_have_count(0)
    held = page.locator('[data-contact-id="chat-1"]')
    expect(held).to_be_visible()
    expect(held).to_contain_text("Grace Hopper")
    status, seen = daemon.call("GET", "/v1/contacts/chat-1")
    assert (status, seen["state"], seen["agent_id"]) == (200, "assigned", "ada")
    tab.screenshot("agent-contact.png")

    held.locator("select[name=csat]").select_option("5")
    held.locator('[data-action="complete"]').click()
    expect(page.locator('[data-contact-id="chat-1"]')).to_have_count(0)
    # the support queue's 30 s of wrap-up, counting down
    wrapup = page.locator('[data-wrapup-id="chat-1"]')
    expect(wrapup).to_contain_text("Grace Hopper")
    expect(wrapup.locator('[data-field="wrapup"]')).to_have_text(re.compile(r"^(2\d|30)s$"))
    status, seen = daemon.call("GET", "/v1/contacts/chat-1")
    assert (seen["state"], seen["outcome"], seen["csat"]) == ("wrapup", "resolved", 5)

    # a rejected offer leaves the page; a withdrawn one (the customer hung up) too
    daemon.contact(id="mail-2", channel="email", customer={"name": "Alan"}, subject="Hi")
    second = page.locator('[data-offer-id]:has-text("Alan")')
    expect(second).to_have_count(1)
    second.locator('[data-action="reject"]').click()
    expect(second).to_have_count(0)
    status, seen = daemon.call("GET", "/v1/contacts/mail-2")
    assert "offer_rejected" in [event["type"] for event in seen["history"]]

    page.click('[data-action="away"]')
    expect(page.locator("#agent-state")).to_have_text("away")
    assert tab.errors == []


def test_the_agent_page_shows_an_offer_withdrawn_and_a_bad_token(tab: Tab, daemon: Daemon) -> None:
    token = daemon.agent("bob", name="Bob", skills={"support": 5}, capacity={"voice": 1})
    page = tab.page
    page.goto(daemon.base + "/agent")
    page.fill("input[name=token]", "agt_forged")
    page.click("button[type=submit]")
    expect(page.locator("#signin-error")).to_contain_text("not valid")
    page.fill("input[name=token]", token)
    page.click("button[type=submit]")
    page.click('[data-action="available"]')
    expect(page.locator("#agent-state")).to_have_text("available")
    daemon.contact(id="call-1", channel="voice", customer={"name": "Linus"})
    expect(page.locator('[data-offer-id]:has-text("Linus")')).to_have_count(1)
    status, _ = daemon.call("POST", "/v1/contacts/call-1/abandon")
    assert status == 200
    expect(page.locator("[data-offer-id]")).to_have_count(0)
    expect(page.locator("#announce")).to_contain_text("Offer withdrawn")
    # a reload keeps the session (the token is in sessionStorage, never in the URL)
    page.reload()
    expect(page.locator("#agent-state")).to_have_text("available")
    assert "agt_" not in page.url
    assert tab.errors == []


def test_keyboard_only_sign_in_and_state(tab: Tab, daemon: Daemon) -> None:
    token = daemon.agent("kay", name="Kay", skills={"support": 5}, capacity={"chat": 1})
    page = tab.page
    page.goto(daemon.base + "/agent")
    page.evaluate("document.activeElement.blur()")
    for _ in range(5):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.name") == "token":
            break
    assert page.evaluate("document.activeElement.name") == "token"
    page.keyboard.type(token)
    page.keyboard.press("Enter")
    expect(page.locator("#agent-name")).to_have_text("Kay")

    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.dataset.action") == "available":
            break
    assert page.evaluate("document.activeElement.dataset.action") == "available"
    # the focus is visible: a keyboard user sees where they are
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none")
    page.keyboard.press("Enter")
    expect(page.locator("#agent-state")).to_have_text("available")

    daemon.contact(id="kb-1", channel="chat", customer={"name": "Edsger"}, subject="Keys")
    offer = page.locator('[data-offer-id]:has-text("Edsger")')
    expect(offer).to_have_count(1)
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.dataset.action") == "accept":
            break
    assert page.evaluate("document.activeElement.dataset.action") == "accept"
    page.keyboard.press("Enter")
    held = page.locator('[data-contact-id="kb-1"]')
    expect(held).to_be_visible()
    # accepting puts the focus on the contact's outcome, ready for the wrap-up
    assert page.evaluate("document.activeElement.name") == "outcome"
    assert tab.errors == []
