"""The routing part of the config: `[routing]` and `[[queues]]` with their escalation steps."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from router.config_reader import Table, did_you_mean
from router.model import (
    PROFICIENCY_MAX,
    PROFICIENCY_MIN,
    EscalationStep,
    QueueConfig,
    RoutingSettings,
)

ROUTING_KEYS = (
    "aging_seconds",
    "candidate_limit",
    "exclusive_channels",
    "missed_offers_before_away",
    "reoffer_delay_seconds",
    "history_per_customer",
    "finished_contacts_kept",
    "join_open_threads",
    "weights",
)
QUEUE_KEYS = (
    "name",
    "channels",
    "skills",
    "min_level",
    "priority",
    "sla_seconds",
    "offer_timeout_seconds",
    "wrapup_seconds",
    "require_language",
    "strategy",
    "escalation",
)
STEP_KEYS = ("after_seconds", "min_level", "add_queues", "priority_boost")


def read_routing(root: Table) -> RoutingSettings:
    table = root.subtable("routing", "[routing]")
    default = RoutingSettings()
    if table is None:
        return default
    table.check_keys(ROUTING_KEYS)
    return RoutingSettings(
        aging_seconds=table.number("aging_seconds", default.aging_seconds, above=0),
        candidate_limit=table.integer("candidate_limit", default.candidate_limit, low=1),
        exclusive_channels=table.strings("exclusive_channels", default.exclusive_channels),
        missed_offers_before_away=table.integer(
            "missed_offers_before_away", default.missed_offers_before_away, low=0
        ),
        reoffer_delay_seconds=table.non_negative(
            "reoffer_delay_seconds", default.reoffer_delay_seconds
        ),
        history_per_customer=table.integer(
            "history_per_customer", default.history_per_customer, low=0
        ),
        finished_contacts_kept=table.integer(
            "finished_contacts_kept", default.finished_contacts_kept, low=0
        ),
        join_open_threads=table.flag("join_open_threads", default.join_open_threads),
        weights=_read_weights(table),
    )


def _read_weights(routing: Table) -> Mapping[str, float]:
    # term names come from whichever scoring plugins are loaded, so any name is accepted
    table = routing.subtable("weights", "[routing.weights]")
    if table is None:
        return MappingProxyType({})
    weights: dict[str, float] = {}
    for name, value in table.data.items():
        number = table.as_number(name, value)
        if number is not None:
            weights[name] = number
    return MappingProxyType(weights)


@dataclass(frozen=True, slots=True)
class _QueueRef:
    """An `add_queues` entry, checked once every queue name is known."""

    table: Table
    queue: str
    names: tuple[str, ...]


def read_queues(root: Table, strategies: Collection[str] | None) -> tuple[QueueConfig, ...]:
    """Every `[[queues]]` table, in config order.

    `strategies` are the plugins able to pick an agent (`router_select_agent`);
    None when the plugins could not be loaded, which is reported elsewhere.
    """
    entries = root.tables("queues", "queues")
    if entries is None:
        if "queues" not in root.data:
            root.reader.problem((), "no queues: add at least one [[queues]] table")
        return ()
    if not entries:
        root.fail("queues", "'queues' must hold at least one [[queues]] table")
    queues: list[QueueConfig] = []
    refs: list[_QueueRef] = []
    first_use: dict[str, int] = {}
    for index, data in entries:
        table = root.reader.table(data, ("queues", index), f"[[queues]] #{index + 1}")
        queue = _read_queue(table, strategies, refs)
        if queue.name in first_use:
            table.fail(
                "name",
                f"duplicate queue name {queue.name!r} in {table.label}"
                f" (already used by [[queues]] #{first_use[queue.name] + 1})",
            )
        elif queue.name:
            first_use[queue.name] = index
        queues.append(queue)
    _check_refs(refs, list(first_use))
    return tuple(queues)


def _read_queue(
    table: Table, strategies: Collection[str] | None, refs: list[_QueueRef]
) -> QueueConfig:
    table.check_keys(QUEUE_KEYS)
    _require(table, "name", "the queue's name")
    _require(table, "channels", "the channels it serves")
    default = QueueConfig(name="", channels=())
    name = table.text("name", "") if "name" in table.data else ""
    channels = table.strings("channels")
    if table.data.get("channels") == []:
        table.fail("channels", f"'channels' in {table.label} must name at least one channel")
    strategy = table.text("strategy", default.strategy)
    if strategies is not None and strategy not in strategies:
        hint = did_you_mean(strategy, strategies)
        known = ", ".join(sorted(strategies)) or "none"
        table.fail(
            "strategy",
            f"unknown strategy {strategy!r} in {table.label}{hint} (loaded strategies: {known})",
        )
    return QueueConfig(
        name=name,
        channels=channels,
        skills=table.strings("skills"),
        min_level=table.integer(
            "min_level", default.min_level, low=PROFICIENCY_MIN, high=PROFICIENCY_MAX
        ),
        priority=table.number("priority", default.priority),
        sla_seconds=table.number("sla_seconds", default.sla_seconds, above=0),
        offer_timeout_seconds=table.number(
            "offer_timeout_seconds", default.offer_timeout_seconds, above=0
        ),
        wrapup_seconds=table.non_negative("wrapup_seconds", default.wrapup_seconds),
        require_language=table.flag("require_language", default.require_language),
        strategy=strategy,
        escalation=_read_escalation(table, name, refs),
    )


def _read_escalation(
    queue: Table, queue_name: str, refs: list[_QueueRef]
) -> tuple[EscalationStep, ...]:
    entries = queue.tables("escalation", "queues.escalation")
    if not entries:
        return ()
    steps: list[EscalationStep] = []
    for index, data in entries:
        label = f"[[queues.escalation]] #{index + 1} of {queue.label}"
        table = queue.reader.table(data, (*queue.path, "escalation", index), label)
        table.check_keys(STEP_KEYS)
        _require(table, "after_seconds", "how long a contact waits before this step")
        add_queues = table.strings("add_queues")
        if add_queues:
            refs.append(_QueueRef(table, queue_name, add_queues))
        steps.append(
            EscalationStep(
                after_seconds=table.number("after_seconds", 1.0, above=0),
                min_level=table.optional_integer(
                    "min_level", low=PROFICIENCY_MIN, high=PROFICIENCY_MAX
                ),
                add_queues=add_queues,
                priority_boost=table.number("priority_boost", 0.0),
            )
        )
    # the engine walks the steps in order of waiting time, whatever order they were written in
    return tuple(sorted(steps, key=lambda step: step.after_seconds))


def _check_refs(refs: list[_QueueRef], names: list[str]) -> None:
    for ref in refs:
        for name in ref.names:
            where = f"'add_queues' in {ref.table.label}"
            if name == ref.queue:
                ref.table.fail("add_queues", f"{where} names its own queue {name!r}")
            elif name not in names:
                hint = did_you_mean(name, names)
                ref.table.fail("add_queues", f"{where} names unknown queue {name!r}{hint}")


def _require(table: Table, key: str, what: str) -> None:
    if key not in table.data:
        table.reader.problem(table.path, f"{table.label} needs {key!r} ({what})")
