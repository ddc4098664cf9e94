"""priority.vip, priority.complaint, priority.channel_urgency: terms and options.

Each test gets fresh `Plugin` instances (one per plugin manager in real use),
so settings configured in one test never reach another.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest
from plugin_fakes import contact

from router.model import ModelError
from router.plugin_api import PluginOption
from router_plugins.priority import channel_urgency, complaint, vip


@pytest.fixture
def vip_plugin() -> vip.Plugin:
    return vip.Plugin()


@pytest.fixture
def complaint_plugin() -> complaint.Plugin:
    return complaint.Plugin()


@pytest.fixture
def urgency_plugin() -> channel_urgency.Plugin:
    return channel_urgency.Plugin()


# -- vip ---------------------------------------------------------------------


def test_vip_default_bonus_for_the_vip_tier(vip_plugin: vip.Plugin) -> None:
    assert vip_plugin.settings == vip.Settings()
    assert vip_plugin.router_priority_terms(contact=contact(tier="vip")) == {"vip": 10.0}
    assert vip_plugin.router_priority_terms(contact=contact(tier="standard")) is None
    assert vip_plugin.router_priority_terms(contact=contact(tier="VIP")) is None  # tiers are exact


def test_vip_configured_tiers_and_bonus(vip_plugin: vip.Plugin) -> None:
    vip_plugin.router_configure(options={"vip": {"bonus": 4, "tiers": ["gold", "platinum"]}})
    assert vip_plugin.settings == vip.Settings(bonus=4.0, tiers=frozenset({"gold", "platinum"}))
    assert vip_plugin.router_priority_terms(contact=contact(tier="gold")) == {"vip": 4.0}
    assert vip_plugin.router_priority_terms(contact=contact(tier="platinum")) == {"vip": 4.0}
    assert vip_plugin.router_priority_terms(contact=contact(tier="vip")) is None


def test_vip_configure_without_its_table_restores_defaults(vip_plugin: vip.Plugin) -> None:
    vip_plugin.router_configure(options={"vip": {"bonus": 1.0, "tiers": ["gold"]}})
    vip_plugin.router_configure(options={})
    assert vip_plugin.settings == vip.Settings()
    assert vip_plugin.router_priority_terms(contact=contact(tier="vip")) == {"vip": 10.0}


def test_vip_instances_keep_their_own_settings(vip_plugin: vip.Plugin) -> None:
    vip_plugin.router_configure(options={"vip": {"bonus": 1.0, "tiers": ["gold"]}})
    other = vip.Plugin()
    assert other.settings == vip.Settings()
    assert other.router_priority_terms(contact=contact(tier="vip")) == {"vip": 10.0}
    assert vip_plugin.router_priority_terms(contact=contact(tier="gold")) == {"vip": 1.0}


# -- complaint -----------------------------------------------------------------


@pytest.mark.parametrize(
    "attributes",
    [{"complaint": True}, {"complaint": 1}, {"intent": "complaint"}],
)
def test_complaint_from_attributes(
    complaint_plugin: complaint.Plugin, attributes: dict[str, Any]
) -> None:
    terms = complaint_plugin.router_priority_terms(contact=contact(attributes=attributes))
    assert terms == {"complaint": 5.0}


@pytest.mark.parametrize(
    "attributes", [{}, {"complaint": False}, {"complaint": ""}, {"intent": "billing"}]
)
def test_no_complaint_from_attributes(
    complaint_plugin: complaint.Plugin, attributes: dict[str, Any]
) -> None:
    assert complaint_plugin.router_priority_terms(contact=contact(attributes=attributes)) is None


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        ("COMPLAINT about my order", ""),
        ("", "This is Unacceptable."),
        ("Re: order", "I want a REFUND now"),
        ("", "please Cancel My subscription"),
        ("I am complaining", ""),  # a substring test: "complain" is in "complaining"
    ],
)
def test_complaint_from_keywords_in_any_case(
    complaint_plugin: complaint.Plugin, subject: str, body: str
) -> None:
    terms = complaint_plugin.router_priority_terms(contact=contact(subject=subject, body=body))
    assert terms == {"complaint": 5.0}


def test_no_complaint_in_ordinary_text(complaint_plugin: complaint.Plugin) -> None:
    ordinary = contact(subject="Question", body="How do I cancel an order? Thanks")
    assert complaint_plugin.router_priority_terms(contact=ordinary) is None
    assert complaint_plugin.router_priority_terms(contact=contact()) is None


def test_complaint_configured_keywords_and_bonus(complaint_plugin: complaint.Plugin) -> None:
    complaint_plugin.router_configure(
        options={"complaint": {"bonus": 2.5, "keywords": ["Furious"]}}
    )
    assert complaint_plugin.settings == complaint.Settings(bonus=2.5, keywords=("furious",))
    assert complaint_plugin.router_priority_terms(contact=contact(body="I am FURIOUS")) == {
        "complaint": 2.5
    }
    assert complaint_plugin.router_priority_terms(contact=contact(body="refund please")) is None
    terms = complaint_plugin.router_priority_terms(
        contact=contact(attributes={"intent": "complaint"})
    )
    assert terms == {"complaint": 2.5}


# -- channel_urgency -----------------------------------------------------------


@pytest.mark.parametrize(
    ("channel", "expected"),
    [
        ("voice", {"channel": 3.0}),
        ("chat", {"channel": 2.0}),
        ("whatsapp", {"channel": 1.0}),
        ("messenger", {"channel": 1.0}),
        ("sms", {"channel": 1.0}),
        ("email", None),  # zero: no term
        ("fax", None),  # unknown channel: no term
    ],
)
def test_channel_urgency_defaults(
    urgency_plugin: channel_urgency.Plugin, channel: str, expected: dict[str, float] | None
) -> None:
    assert urgency_plugin.router_priority_terms(contact=contact(channel=channel)) == expected


def test_channel_urgency_configured_table_replaces_the_default(
    urgency_plugin: channel_urgency.Plugin,
) -> None:
    urgency_plugin.router_configure(
        options={"channel_urgency": {"urgency": {"email": 0.5, "voice": -1}}}
    )
    assert dict(urgency_plugin.settings.urgency) == {"email": 0.5, "voice": -1.0}
    assert urgency_plugin.router_priority_terms(contact=contact(channel="email")) == {
        "channel": 0.5
    }
    assert urgency_plugin.router_priority_terms(contact=contact(channel="voice")) == {
        "channel": -1.0
    }
    assert urgency_plugin.router_priority_terms(contact=contact(channel="chat")) is None


# -- options -------------------------------------------------------------------


def test_declared_options_match_their_defaults(
    vip_plugin: vip.Plugin,
    complaint_plugin: complaint.Plugin,
    urgency_plugin: channel_urgency.Plugin,
) -> None:
    declared: list[PluginOption] = [
        *vip_plugin.router_plugin_options(),
        *complaint_plugin.router_plugin_options(),
        *urgency_plugin.router_plugin_options(),
    ]
    found = {(o.plugin, o.name): (o.type, o.default) for o in declared}
    assert found == {
        ("vip", "bonus"): (float, 10.0),
        ("vip", "tiers"): (list, ["vip"]),
        ("complaint", "bonus"): (float, 5.0),
        (
            "complaint",
            "keywords",
        ): (list, ["complaint", "complain", "unacceptable", "refund", "cancel my"]),
        ("channel_urgency", "urgency"): (
            dict,
            {
                "voice": 3.0,
                "chat": 2.0,
                "whatsapp": 1.0,
                "messenger": 1.0,
                "sms": 1.0,
                "email": 0.0,
            },
        ),
    }
    assert all(o.description for o in declared)


def test_declared_defaults_are_fresh_copies(vip_plugin: vip.Plugin) -> None:
    first = vip_plugin.router_plugin_options()[1].default
    first.append("mutated")
    assert vip_plugin.router_plugin_options()[1].default == ["vip"]


@pytest.mark.parametrize(
    ("module", "options", "message"),
    [
        (vip, {"vip": {"bonus": "ten"}}, r"plugins\.vip\.bonus"),
        (vip, {"vip": {"bonus": True}}, r"plugins\.vip\.bonus"),
        (vip, {"vip": {"bonus": float("nan")}}, r"plugins\.vip\.bonus"),
        (vip, {"vip": {"tiers": "vip"}}, r"plugins\.vip\.tiers"),
        (vip, {"vip": {"tiers": ["vip", 3]}}, r"plugins\.vip\.tiers"),
        (complaint, {"complaint": {"keywords": [""]}}, r"plugins\.complaint\.keywords"),
        (channel_urgency, {"channel_urgency": {"urgency": ["voice"]}}, r"urgency"),
        (channel_urgency, {"channel_urgency": {"urgency": {"voice": "x"}}}, r"urgency\.voice"),
    ],
)
def test_bad_option_values_are_refused(module: ModuleType, options: Any, message: str) -> None:
    plugin = module.Plugin()
    with pytest.raises(ModelError, match=message):
        plugin.router_configure(options=options)
    assert plugin.settings == module.Settings()  # a refused config changes nothing
