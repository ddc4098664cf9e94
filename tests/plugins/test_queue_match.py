"""queues.queue_match: the first queue, in config order, that takes the contact."""

from __future__ import annotations

from collections.abc import Sequence

from plugin_fakes import contact, queue

from router import hookimpl
from router.model import Contact, QueueConfig
from router.plugins import load_plugins
from router_plugins.queues.queue_match import router_select_queue

QUEUES = (
    queue("voice_sales", channels=("voice",), skills=("sales",)),
    queue("billing", channels=("chat", "email"), skills=("billing", "support")),
    queue("general", channels=("chat", "email", "voice"), skills=("support",)),
)


def test_first_queue_taking_the_channel_wins_without_skills() -> None:
    assert router_select_queue(contact=contact(channel="voice"), queues=QUEUES) == "voice_sales"
    assert router_select_queue(contact=contact(channel="chat"), queues=QUEUES) == "billing"


def test_config_order_decides_between_fitting_queues() -> None:
    reordered = (QUEUES[2], QUEUES[1], QUEUES[0])
    assert router_select_queue(contact=contact(channel="chat"), queues=reordered) == "general"


def test_contact_skills_must_all_be_in_the_queue() -> None:
    def pick(*skills: str, channel: str = "chat") -> str | None:
        return router_select_queue(contact=contact(channel=channel, skills=skills), queues=QUEUES)

    assert pick("support") == "billing"
    assert pick("billing", "support") == "billing"
    assert pick("support", channel="voice") == "general"
    assert pick("sales", channel="voice") == "voice_sales"
    assert pick("sales") is None  # no chat queue has sales
    assert pick("billing", "sales") is None


def test_no_queue_takes_the_channel() -> None:
    assert router_select_queue(contact=contact(channel="sms"), queues=QUEUES) is None
    assert router_select_queue(contact=contact(channel="chat"), queues=()) is None


def test_runs_after_other_queue_plugins() -> None:
    class Vip:
        @hookimpl
        def router_select_queue(
            self, contact: Contact, queues: Sequence[QueueConfig]
        ) -> str | None:
            return "general" if contact.customer.tier == "vip" else None

    plugins = load_plugins(entry_points_enabled=False, extra=[("vip_queue", Vip())])
    assert plugins.select_queue(contact(channel="chat", tier="vip"), QUEUES) == "general"
    assert plugins.select_queue(contact(channel="chat"), QUEUES) == "billing"
    assert plugins.select_queue(contact(channel="sms"), QUEUES) is None
