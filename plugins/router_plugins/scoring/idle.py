"""Scoring term `idle`: the longest-idle candidate scores 1.0.

A candidate's score is its idle time (`context.now - idle_since`) divided by
the longest idle time among the candidates; all 0.0 when nobody has been
idle. An `idle_since` in the future counts as no idle time.

Options: none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from router import hookimpl

if TYPE_CHECKING:
    from router.plugin_api import AgentView, RoutingContext

TERM = "idle"


@hookimpl
def router_score_agents(
    candidates: Sequence[AgentView], context: RoutingContext
) -> Mapping[str, Sequence[float]] | None:
    if not candidates:
        return None
    now = context.now
    # one compiled pass, the longest kept as it goes (not `max`, which compares boxed floats)
    idle: list[float] = []
    longest = 0.0
    for agent in candidates:
        d = now - agent.idle_since
        d = d if d > 0.0 else 0.0
        idle.append(d)
        if d > longest:  # noqa: PLR1730 - not `max`: compiled, it would box both floats
            longest = d
    if longest <= 0.0:
        return {TERM: [0.0] * len(idle)}
    return {TERM: [d / longest for d in idle]}
