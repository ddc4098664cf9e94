"""The facade's direct hook calls answer exactly what pluggy's own calls answer."""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from typing import Any

import pytest

from router import hookimpl
from router.model import Contact, Customer, QueueConfig, RouterEvent
from router.plugins import RouterPlugins, load_plugins

CONTACT = Contact(id="c-1", channel="chat", customer=Customer(id="cu-1"), body="hi")
QUEUES = (QueueConfig(name="support", channels=("chat",), skills=("support",)),)


class Ordered:
    """Answers that show the call order: tryfirst before plain before trylast."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    @hookimpl(tryfirst=True)
    def router_priority_terms(self, contact: Contact) -> Mapping[str, float]:
        self.calls.append("first")
        return {"first": 1.0}

    @hookimpl(trylast=True)
    def router_select_queue(self, queues: Sequence[QueueConfig]) -> str | None:
        self.calls.append("last")
        return "never-reached" if len(queues) > 5 else None


class Plain:
    @hookimpl
    def router_priority_terms(self, contact: Contact, queue: QueueConfig) -> Mapping[str, float]:
        return {"plain": 2.0, "first": 0.5}

    @hookimpl
    def router_select_queue(self, contact: Contact) -> str | None:
        return "support" if contact.channel == "chat" else None


class Silent:
    @hookimpl
    def router_priority_terms(self) -> Mapping[str, float] | None:
        return None


class Wrapping:
    @hookimpl(wrapper=True)
    def router_priority_terms(self) -> Generator[None, list[Mapping[str, float]], Any]:
        results = yield
        return [*results, {"wrapped": 4.0}]


def loaded(*plugins: object) -> RouterPlugins:
    extra = [(f"p{index}", plugin) for index, plugin in enumerate(plugins)]
    return load_plugins(extra=extra, entry_points_enabled=False)


def test_direct_calls_answer_what_pluggy_answers() -> None:
    ordered = Ordered()
    plugins = loaded(ordered, Plain(), Silent())
    hook = plugins.pm.hook
    queue = QUEUES[0]
    assert plugins._priority_terms.direct
    pluggy_terms = hook.router_priority_terms(contact=CONTACT, queue=queue)
    assert plugins._priority_terms.all(CONTACT, queue) == pluggy_terms
    assert pluggy_terms[0] == {"first": 1.0}  # tryfirst ran first in both
    assert plugins.priority_terms(CONTACT, queue)["first"] == 1.5
    assert plugins.select_queue(CONTACT, QUEUES) == "support"
    assert plugins.select_queue(CONTACT, QUEUES) == hook.router_select_queue(
        contact=CONTACT, queues=QUEUES
    )


def test_the_channel_plugins_read_contacts_as_through_pluggy() -> None:
    plugins = loaded()
    assert plugins._parse_contact.direct
    hook = plugins.pm.hook
    payload = {"channel": "chat", "customer": {"id": "cu-9"}, "body": "where is my order?"}
    ours = plugins.parse_contact("chat", payload, "c-given")
    assert ours is not None
    assert ours == hook.router_parse_contact(channel="chat", payload=payload, contact_id="c-given")
    assert ours.id == "c-given"
    unreadable = {"customer": "cu-9"}
    with pytest.raises(ValueError, match="customer must be an object") as direct_error:
        plugins.parse_contact("chat", unreadable, "c-2")
    with pytest.raises(ValueError, match="customer must be an object") as pluggy_error:
        hook.router_parse_contact(channel="chat", payload=unreadable, contact_id="c-2")
    assert str(direct_error.value) == str(pluggy_error.value)


def test_a_first_result_hook_stops_at_the_first_answer() -> None:
    ordered = Ordered()
    plugins = loaded(ordered, Plain())
    plugins.select_queue(CONTACT, QUEUES)
    assert "last" not in ordered.calls  # Plain answered; the trylast one was never asked
    email = Contact(id="c-2", channel="email", customer=Customer(id="cu-1"), body="hi")
    ordered.calls.clear()
    plugins.select_queue(email, QUEUES)
    assert ordered.calls == ["last"]


def test_a_hook_with_a_wrapper_keeps_pluggys_call() -> None:
    plugins = loaded(Plain(), Wrapping())
    assert not plugins._priority_terms.direct
    assert plugins._priority_terms.all(CONTACT, QUEUES[0])[-1] == {"wrapped": 4.0}
    assert plugins.priority_terms(CONTACT, QUEUES[0])["wrapped"] == 4.0


def test_an_exception_in_a_plugin_reaches_the_caller_as_it_is() -> None:
    class Broken:
        @hookimpl
        def router_select_queue(self) -> str | None:
            raise LookupError("broken plugin")

    plugins = loaded(Broken())
    with pytest.raises(LookupError, match="broken plugin"):
        plugins.select_queue(CONTACT, QUEUES)


def test_event_listeners_hear_every_event() -> None:
    heard: list[str] = []

    class Listener:
        @hookimpl
        def router_event(self, event: RouterEvent) -> None:
            heard.append(event.type)

    plugins = loaded(Listener())
    plugins.event(RouterEvent(type="queued", at=1.0, contact_id="c-1"))
    assert heard == ["queued"]
