"""Strategy `best_score` (the default): the highest total wins.

Ties go to the candidate idle the longest (smallest `idle_since`), then to the
smallest id, so the choice is deterministic. Runs last (`trylast`): any other
strategy that answers for the queue goes first. Returns None for no candidates.

Options: none.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from router import hookimpl

if TYPE_CHECKING:
    from router.plugin_api import AgentView


@hookimpl(trylast=True)
def router_select_agent(candidates: Sequence[AgentView], totals: Sequence[float]) -> int | None:
    if len(totals) != len(candidates):
        raise ValueError(f"{len(totals)} totals for {len(candidates)} candidates")
    if not candidates:
        return None
    best = 0
    best_total = totals[0]
    for index in range(1, len(totals)):
        total = totals[index]
        if total > best_total:
            best, best_total = index, total
        elif total == best_total:
            agent, leader = candidates[index], candidates[best]
            if (agent.idle_since, agent.id) < (leader.idle_since, leader.id):
                best = index
    return best
