"""Scoring term `sticky`: keep a customer with the agent who served them last.

1.0 for the last agent of the contact's thread, 0.7 for the last agent of the
customer (the larger when one agent is both), 0.0 for everyone else. Abstains
when the engine knows neither.

Options: none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from router import hookimpl

if TYPE_CHECKING:
    from router.plugin_api import AgentView, RoutingContext

TERM = "sticky"
THREAD_SCORE = 1.0
CUSTOMER_SCORE = 0.7


@hookimpl
def router_score_agents(
    candidates: Sequence[AgentView], context: RoutingContext
) -> Mapping[str, Sequence[float]] | None:
    thread = context.last_agent_for_thread
    customer = context.last_agent_for_customer
    if (thread is None and customer is None) or not candidates:
        return None
    return {
        TERM: [
            THREAD_SCORE if a.id == thread else CUSTOMER_SCORE if a.id == customer else 0.0
            for a in candidates
        ]
    }
