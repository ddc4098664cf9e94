"""The engine's agent record: free capacity from its profile, replaced or not."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

from router.engine.records import AgentRecord
from router.model import AgentProfile, AgentState


def test_free_capacity_follows_a_replaced_profile() -> None:
    profile = AgentProfile(id="a1", capacity=MappingProxyType({"chat": 2, "voice": 1}))
    agent = AgentRecord(profile=profile, state=AgentState.AVAILABLE)
    assert agent.free_on("chat", ("voice",)) == 2
    agent.take("chat", ("voice",))
    assert agent.free_on("chat", ("voice",)) == 1
    assert agent.free_on("voice", ("voice",)) == 0  # exclusive: not beside a chat
    # the capacity is copied per profile: a new profile is read, even set directly
    agent.profile = replace(profile, capacity=MappingProxyType({"chat": 3}))
    assert agent.free_on("chat", ("voice",)) == 2
    assert agent.free_on("email", ("voice",)) == 0
    assert agent.capacity() == {"chat": 3}
