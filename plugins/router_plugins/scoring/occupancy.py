"""Scoring term `occupancy`: the least occupied candidate wins.

A candidate's score is `1 - total load / total capacity`, summed over all its
channels (`agent.load` against `agent.profile.capacity`); 1.0 when its
capacity is 0, and never below 0.0.

Options: none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from router import hookimpl

if TYPE_CHECKING:
    from router.plugin_api import AgentView

TERM = "occupancy"


@hookimpl
def router_score_agents(candidates: Sequence[AgentView]) -> Mapping[str, Sequence[float]] | None:
    if not candidates:
        return None
    scores: list[float] = []
    for agent in candidates:
        capacity = agent.profile.total_capacity
        load = agent.total_load
        if capacity <= 0:
            scores.append(1.0)
        elif load >= capacity:
            scores.append(0.0)
        else:
            scores.append(1.0 - load / capacity)
    return {TERM: scores}
