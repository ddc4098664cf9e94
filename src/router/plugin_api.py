"""What a plugin sees: read-only views of agents and contacts, the routing context,
and the declaration of a plugin's own config options.

The views are Protocols over the engine's live records, so scoring costs no
copies; a plugin reads them and never writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from router.model import AgentProfile, AgentState, Contact, HistoryEntry
from router.value import Value


@dataclass(slots=True)
class OutcomeStats:
    """An agent's record on one queue: what scoring by past outcomes reads."""

    handled: int = 0
    resolved: int = 0
    csat_sum: float = 0.0
    csat_count: int = 0

    def record(self, outcome: str | None, csat: int | None) -> None:
        self.handled += 1
        if outcome == "resolved":
            self.resolved += 1
        if csat is not None:
            self.csat_sum += csat
            self.csat_count += 1


class AgentView(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def profile(self) -> AgentProfile: ...
    @property
    def state(self) -> AgentState: ...
    @property
    def load(self) -> Mapping[str, int]:
        """Contacts held per channel: offered, assigned and in wrap-up."""
        ...

    @property
    def total_load(self) -> int:
        """The sum of `load`, over every channel."""
        ...

    @property
    def idle_since(self) -> float:
        """When the agent last became available, got a contact or finished one."""
        ...

    @property
    def outcomes(self) -> Mapping[str, OutcomeStats]:
        """Past outcomes per queue name."""
        ...


class ContactView(Protocol):
    @property
    def contact(self) -> Contact: ...
    @property
    def queue(self) -> str | None: ...
    @property
    def arrived_at(self) -> float: ...
    @property
    def min_level(self) -> int:
        """The proficiency now required, after any escalation step."""
        ...

    @property
    def priority(self) -> float:
        """Base plus plugin terms, without aging."""
        ...


class RoutingContext(Value):
    """What the engine knows around one decision."""

    __match_args__ = (
        "now",
        "customer_history",
        "last_agent_for_customer",
        "last_agent_for_thread",
    )

    def __init__(
        self,
        now: float,
        customer_history: Sequence[HistoryEntry],
        last_agent_for_customer: str | None,
        last_agent_for_thread: str | None,
    ) -> None:
        self.now: Final = now
        self.customer_history: Final = customer_history
        self.last_agent_for_customer: Final = last_agent_for_customer
        self.last_agent_for_thread: Final = last_agent_for_thread


@dataclass(frozen=True, slots=True)
class PluginOption:
    """One key of a plugin's `[plugins.NAME]` table."""

    plugin: str
    name: str
    type: type
    default: Any
    description: str
