"""channels.normalized: the last-resort reader of normalized contact JSON."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from router import hookimpl
from router.model import Contact, ModelError
from router.plugins import load_plugins
from router_plugins.channels import normalized


def test_reads_a_normalized_contact() -> None:
    payload = {"channel": "chat", "customer": {"id": "42", "tier": "vip"}, "body": "hi"}
    contact = normalized.router_parse_contact(channel="chat", payload=payload, contact_id="c-1")
    assert contact == Contact(
        id="c-1", channel="chat", customer=contact.customer, body="hi", attributes={}
    )
    assert contact.customer.tier == "vip"


def test_takes_the_channel_from_the_topic() -> None:
    contact = normalized.router_parse_contact(channel="sms", payload={}, contact_id="c-2")
    assert contact.channel == "sms"


def test_refuses_a_channel_that_contradicts_the_topic() -> None:
    with pytest.raises(ModelError, match="channel"):
        normalized.router_parse_contact(channel="sms", payload={"channel": "chat"}, contact_id="x")


def test_runs_after_other_channel_plugins() -> None:
    class Native:
        @hookimpl
        def router_parse_contact(
            self, channel: str, payload: Mapping[str, Any], contact_id: str
        ) -> Contact | None:
            if "native" not in payload:
                return None
            return Contact(id=contact_id, channel=channel, body=str(payload["native"]))

    plugins = load_plugins(entry_points_enabled=False, extra=[("native", Native())])
    native = plugins.parse_contact("whatsapp", {"native": "hello"}, "c-3")
    assert native is not None
    assert native.body == "hello"
    fallback = plugins.parse_contact("whatsapp", {"body": "plain"}, "c-4")
    assert fallback is not None
    assert (fallback.id, fallback.body) == ("c-4", "plain")
    with pytest.raises(ModelError, match="priority"):
        plugins.parse_contact("whatsapp", {"priority": "high"}, "c-5")
