"""All built-ins together, through the real plugin manager."""

from __future__ import annotations

from typing import Any

import pytest
from plugin_fakes import agent, contact, context, queue, view

from router.plugins import BUILTIN_PLUGINS, builtin_name, load_plugins


def test_every_builtin_loads_and_passes_check_pending() -> None:
    plugins = load_plugins(entry_points_enabled=False)  # runs pm.check_pending()
    plugins.pm.check_pending()
    infos = {info.name: info for info in plugins.describe()}
    assert set(infos) == {builtin_name(m) for m in BUILTIN_PLUGINS}
    assert all(info.origin == "built-in" for info in infos.values())
    assert all(info.hooks for info in infos.values())
    assert infos["normalized"].hooks == ("router_parse_contact",)
    assert infos["queue_match"].hooks == ("router_select_queue",)
    assert infos["vip"].hooks == (
        "router_configure",
        "router_plugin_options",
        "router_priority_terms",
    )
    assert infos["best_score"].hooks == ("router_select_agent",)


def test_declared_options_name_their_own_plugin() -> None:
    plugins = load_plugins(entry_points_enabled=False)
    options = plugins.plugin_options()
    assert {(o.plugin, o.name) for o in options} == {
        ("vip", "bonus"),
        ("vip", "tiers"),
        ("complaint", "bonus"),
        ("complaint", "keywords"),
        ("channel_urgency", "urgency"),
        ("outcomes", "prior_weight"),
        ("email", "queues_by_recipient"),
    }
    for option in options:
        assert isinstance(option.default, option.type), option


def test_priority_terms_sum_vip_complaint_and_channel() -> None:
    plugins = load_plugins(entry_points_enabled=False)
    angry_vip_call = contact(channel="voice", tier="vip", body="I want a refund")
    assert plugins.priority_terms(angry_vip_call, queue()) == {
        "vip": 10.0,
        "complaint": 5.0,
        "channel": 3.0,
    }
    assert plugins.priority_terms(contact(channel="email"), queue()) == {}


def test_configure_reaches_every_plugin_through_the_facade() -> None:
    plugins = load_plugins(entry_points_enabled=False)
    defaults: dict[str, dict[str, Any]] = {o.plugin: {} for o in plugins.plugin_options()}
    for option in plugins.plugin_options():
        defaults[option.plugin][option.name] = option.default
    defaults["vip"]["bonus"] = 20.0
    defaults["channel_urgency"]["urgency"] = {"voice": 7.5}
    plugins.configure(defaults)
    terms = plugins.priority_terms(contact(channel="voice", tier="vip"), queue())
    assert terms == {"vip": 20.0, "channel": 7.5}


def test_scoring_and_selection_through_the_manager() -> None:
    plugins = load_plugins(entry_points_enabled=False)
    candidates = [
        agent("a", skills={"support": 5}, capacity={"chat": 2}, load={"chat": 1}, idle_since=50.0),
        agent("b", skills={"support": 9}, capacity={"chat": 2}, idle_since=90.0),
    ]
    contact_view = view(contact(language="en"))
    results = plugins.score_agents(
        contact_view, queue(skills=("support",)), candidates, context(now=100.0)
    )
    terms = {name: list(values) for result in results for name, values in result.items()}
    assert set(terms) == {"skills", "idle", "occupancy", "language"}  # the rest abstain
    totals = [sum(values[i] for values in terms.values()) for i in range(len(candidates))]
    assert totals == pytest.approx([2.0, 2.1])
    assert plugins.select_agent(contact_view, queue(), candidates, totals, context()) == 1
    rr = queue("rr", strategy="round_robin")
    assert plugins.select_agent(contact_view, rr, candidates, [0.0, 5.0], context()) == 0
    assert plugins.select_agent(contact_view, rr, candidates, [0.0, 5.0], context()) == 1


def test_two_managers_keep_their_own_settings_and_memory() -> None:
    """Stateful built-ins are `Plugin` instances, one per manager: nothing is shared."""
    first = load_plugins(entry_points_enabled=False)
    second = load_plugins(entry_points_enabled=False)
    assert first.pm.get_plugin("vip") is not second.pm.get_plugin("vip")
    first.configure({"vip": {"bonus": 20.0}})
    second.configure({"vip": {"bonus": 3.0}})
    vip_chat = contact(channel="email", tier="vip")
    assert first.priority_terms(vip_chat, queue()) == {"vip": 20.0}
    assert second.priority_terms(vip_chat, queue()) == {"vip": 3.0}
    first.configure({})  # back to the defaults in `first` only
    assert first.priority_terms(vip_chat, queue()) == {"vip": 10.0}
    assert second.priority_terms(vip_chat, queue()) == {"vip": 3.0}

    rr = queue("rr", strategy="round_robin")
    candidates = [agent("a"), agent("b"), agent("c")]
    totals = [0.0, 0.0, 0.0]
    contact_view = view(contact())
    picks = [first.select_agent(contact_view, rr, candidates, totals, context()) for _ in range(2)]
    assert picks == [0, 1]
    # `second` has picked nobody yet: its turn starts at the smallest id
    assert second.select_agent(contact_view, rr, candidates, totals, context()) == 0
    assert first.select_agent(contact_view, rr, candidates, totals, context()) == 2
