"""Scoring term `outcomes`: agents who did well on this kind of contact before.

"This kind" is the contact's queue (`contact.queue`, else the queue offering
it); the record is `agent.outcomes[queue]`. Both halves are shrunk towards a
neutral prior worth `prior_weight` contacts, so two lucky contacts do not beat
a long good record:

- CSAT (1..5): `((csat_sum + 3 * w) / (csat_count + w) - 1) / 4`
- resolution rate: `(resolved + 0.5 * w) / (handled + w)`

The score is their mean, 0..1 (0.5 for an agent with no record). Abstains
when no candidate has any record.

Options (`[plugins.outcomes]`):

- `prior_weight` (float, 5.0, must be > 0): how many contacts the prior counts as.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from router import hookimpl
from router.model import ModelError, lookup
from router.plugin_api import PluginOption
from router_plugins._options import as_float, section

if TYPE_CHECKING:
    from router.model import QueueConfig
    from router.plugin_api import AgentView, ContactView

NAME = TERM = "outcomes"
DEFAULT_PRIOR_WEIGHT = 5.0
NEUTRAL = 0.5  # the score of an agent with no record: both halves at their prior


@dataclass(frozen=True, slots=True)
class Settings:
    prior_weight: float = DEFAULT_PRIOR_WEIGHT


class Plugin:
    """One per plugin manager: its settings are replaced whole by `router_configure`."""

    def __init__(self) -> None:
        self.settings = Settings()

    @hookimpl
    def router_plugin_options(self) -> Sequence[PluginOption]:
        return [
            PluginOption(
                NAME,
                "prior_weight",
                float,
                DEFAULT_PRIOR_WEIGHT,
                "contacts the neutral prior is worth",
            ),
        ]

    @hookimpl
    def router_configure(self, options: Mapping[str, Mapping[str, Any]]) -> None:
        own = section(options, NAME)
        weight = as_float(NAME, "prior_weight", own.get("prior_weight", DEFAULT_PRIOR_WEIGHT))
        if weight <= 0.0:
            raise ModelError(f"plugins.{NAME}.prior_weight must be above 0, not {weight}")
        self.settings = Settings(prior_weight=weight)

    @hookimpl
    def router_score_agents(
        self, contact: ContactView, queue: QueueConfig, candidates: Sequence[AgentView]
    ) -> Mapping[str, Sequence[float]] | None:
        name = contact.queue or queue.name
        w = self.settings.prior_weight
        scores: list[float] = []
        seen = False
        for agent in candidates:
            stats = lookup(agent.outcomes, name, None)
            if stats is None or (stats.handled == 0 and stats.csat_count == 0):
                scores.append(NEUTRAL)
                continue
            seen = True
            csat = ((stats.csat_sum + 3.0 * w) / (stats.csat_count + w) - 1.0) / 4.0
            resolution = (stats.resolved + 0.5 * w) / (stats.handled + w)
            scores.append((csat + resolution) / 2.0)
        return {TERM: scores} if seen else None
