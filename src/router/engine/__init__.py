"""The pure routing engine: events in, effects out, at an explicit `now`."""

from router.engine.core import Engine
from router.engine.effects import Effect, EngineError, RevokeOffer, SendOffer
from router.engine.events import (
    AgentStateChanged,
    AgentUpserted,
    ConfigReplaced,
    ContactAbandoned,
    ContactArrived,
    ContactCompleted,
    ContactTransferred,
    Event,
    OfferAnswered,
    Tick,
)
from router.engine.matching import PluginContractError

__all__ = [
    "AgentStateChanged",
    "AgentUpserted",
    "ConfigReplaced",
    "ContactAbandoned",
    "ContactArrived",
    "ContactCompleted",
    "ContactTransferred",
    "Effect",
    "Engine",
    "EngineError",
    "Event",
    "OfferAnswered",
    "PluginContractError",
    "RevokeOffer",
    "SendOffer",
    "Tick",
]
