"""Every hook the router calls, in the order a contact meets them.

Each hook is prefixed `router_`, fully typed, and says how results combine.
Plugins implement them with `@router.hookimpl`. docs/plugins.md has a section
per hook; `tests/test_plugin_docs.py` fails when one is missing.

Hooks that run for every contact take the whole candidate set at once: a
pluggy call costs about a microsecond, which is too much per agent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from router.model import Contact, QueueConfig, RouterEvent
    from router.plugin_api import AgentView, ContactView, PluginOption, RoutingContext

hookspec = pluggy.HookspecMarker("router")


@hookspec
def router_plugin_options() -> Sequence[PluginOption]:
    """Declare the options this plugin reads from its `[plugins.NAME]` config table.

    Result: a list of lists; all are collected. Config validation refuses
    unknown keys and values of the wrong type, naming file and line.
    """
    raise NotImplementedError


@hookspec
def router_configure(options: Mapping[str, Mapping[str, Any]]) -> None:
    """Receive the validated plugin options, keyed by plugin name, defaults filled in.

    Called once when the config is loaded and again on every reload. Result:
    none; every implementation is called.
    """


@hookspec(firstresult=True)
def router_parse_contact(
    channel: str, payload: Mapping[str, Any], contact_id: str
) -> Contact | None:
    """Turn a channel's decoded payload into a normalized contact.

    `contact_id` is the id to use when the payload carries none. Return None
    when the payload is not yours. Raise `router.model.ModelError` with a clear
    message when it is yours but unreadable. Result: first non-None wins; the
    built-in reader of normalized contacts runs last.
    """
    raise NotImplementedError


@hookspec(firstresult=True)
def router_select_queue(contact: Contact, queues: Sequence[QueueConfig]) -> str | None:
    """Choose the queue for a contact that names none.

    `queues` are the configured queues in config order. Result: first
    non-None wins; the built-in rule (channel and skills, in config order)
    runs last. When every plugin returns None, or names a queue that does not
    exist, the contact is `rejected` with the reason. A contact naming an
    unknown queue is rejected without asking the plugins.
    """
    raise NotImplementedError


@hookspec
def router_priority_terms(contact: Contact, queue: QueueConfig) -> Mapping[str, float] | None:
    """Add named terms to a contact's priority (VIP tier, complaint, channel urgency).

    Called once when the contact enters a queue. Result: all mappings are
    merged and their values summed with the contact's and the queue's base
    priority; the terms are recorded on the contact's `queued` event.
    """
    raise NotImplementedError


@hookspec
def router_score_agents(
    contact: ContactView,
    queue: QueueConfig,
    candidates: Sequence[AgentView],
    context: RoutingContext,
) -> Mapping[str, Sequence[float]] | None:
    """Score every eligible candidate for a contact, all at once.

    Return named terms, each a sequence of floats aligned with `candidates`,
    best about 1.0 and worst about 0.0. Result: all terms of all plugins are
    multiplied by their `[routing.weights]` weight (1.0 when not named) and
    summed per candidate; the totals go to `router_select_agent`.
    """
    raise NotImplementedError


@hookspec(firstresult=True)
def router_select_agent(
    contact: ContactView,
    queue: QueueConfig,
    candidates: Sequence[AgentView],
    totals: Sequence[float],
    context: RoutingContext,
) -> int | None:
    """Pick the winner among the candidates: return its index, or None to pass.

    A strategy plugin answers only for the queues whose `strategy` is its
    name. Result: first non-None wins; the built-in `best_score` strategy
    (highest total, ties to the longest idle) runs last.
    """
    raise NotImplementedError


@hookspec
def router_event(event: RouterEvent) -> None:
    """Listen to every state change (the events of CONTRACT 5), as it happens.

    Called synchronously inside the engine: do no I/O here; hand the event to
    your own queue or task. Result: none; every implementation is called.
    """
