"""Test support for the router and for plugin authors: an engine on a fake clock.

Installed as a pytest plugin (entry point `pytest11`), so any project with
the router installed gets the `router_engine` fixture:

    def test_my_rule(router_engine):
        router_engine.add_agent("a1", skills={"support": 5}, capacity={"chat": 1})
        router_engine.arrive(channel="chat", customer={"tier": "vip"})
        assert router_engine.offers[-1].offer.agent_id == "a1"
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Any

import pytest

from router.engine import (
    AgentStateChanged,
    AgentUpserted,
    ContactArrived,
    Effect,
    Engine,
    EngineError,
    Event,
    SendOffer,
    Tick,
)
from router.model import (
    KNOWN_CHANNELS,
    AgentProfile,
    AgentState,
    Contact,
    Customer,
    EngineConfig,
    QueueConfig,
    RouterEvent,
)
from router.plugins import load_plugins

DEFAULT_CONFIG = EngineConfig(
    queues=(QueueConfig(name="support", channels=KNOWN_CHANNELS, skills=("support",)),)
)


class RouterHarness:
    """An engine, its plugins and a fake clock; records every effect it returns."""

    def __init__(
        self,
        config: EngineConfig = DEFAULT_CONFIG,
        *,
        extra_plugins: Iterable[tuple[str, object]] = (),
        options: Mapping[str, Mapping[str, Any]] | None = None,
        entry_points: bool = False,
    ) -> None:
        self.plugins = load_plugins(extra=extra_plugins, entry_points_enabled=entry_points)
        merged = self.plugins.default_options()
        for plugin, values in (options or {}).items():
            merged.setdefault(plugin, {}).update(values)
        self.plugins.configure(merged)
        self.engine = Engine(config, self.plugins)
        self.clock = 0.0
        self.effects: list[Effect] = []
        self._ids = 0

    def harness(self, config: EngineConfig = DEFAULT_CONFIG, **kwargs: Any) -> RouterHarness:
        return RouterHarness(config, **kwargs)

    # -- time and events -------------------------------------------------
    def send(self, event: Event) -> list[Effect]:
        """Handle an event now; a refusal raises EngineError (timer effects kept)."""
        try:
            effects = self.engine.handle(event, self.clock)
        except EngineError as error:
            self.effects.extend(error.effects)
            raise
        self.effects.extend(effects)
        return effects

    def advance(self, seconds: float) -> list[Effect]:
        self.clock += seconds
        return self.send(Tick())

    # -- conveniences ----------------------------------------------------
    def add_agent(
        self,
        agent_id: str,
        *,
        skills: Mapping[str, int] | None = None,
        capacity: Mapping[str, int] | None = None,
        languages: Iterable[str] = (),
        state: AgentState | None = AgentState.AVAILABLE,
    ) -> list[Effect]:
        profile = AgentProfile(
            id=agent_id,
            name=agent_id,
            skills=MappingProxyType(dict(skills if skills is not None else {"support": 5})),
            languages=frozenset(languages),
            capacity=MappingProxyType(dict(capacity if capacity is not None else {"chat": 1})),
        )
        effects = self.send(AgentUpserted(profile))
        if state is not None:
            effects += self.send(AgentStateChanged(agent_id, state))
        return effects

    def arrive(self, contact: Contact | None = None, **fields: Any) -> list[Effect]:
        if contact is None:
            self._ids += 1
            customer = fields.pop("customer", {})
            fields.setdefault("id", f"c{self._ids}")
            fields.setdefault("channel", "chat")
            contact = Contact(customer=Customer(**customer), **fields)
        return self.send(ContactArrived(contact))

    @property
    def offers(self) -> list[SendOffer]:
        return [e for e in self.effects if isinstance(e, SendOffer)]

    def events(self, kind: str | None = None) -> Iterator[RouterEvent]:
        for effect in self.effects:
            if isinstance(effect, RouterEvent) and (kind is None or effect.type == kind):
                yield effect


@pytest.fixture
def router_engine() -> RouterHarness:
    """An engine with the built-in plugins, one `support` queue and a clock at 0."""
    return RouterHarness()
