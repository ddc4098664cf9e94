"""Strategy `round_robin`: take turns, whatever the scores.

Answers only for queues whose `strategy` is "round_robin". Per queue it
remembers the id of the agent it picked last and picks the candidate whose id
comes next in sorted order, wrapping around to the smallest. The memory lives
in the `Plugin` instance (each plugin manager has its own) and is cleared by
`router_configure`, that is on every config load or reload.

Options: none.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from router import hookimpl

if TYPE_CHECKING:
    from router.model import QueueConfig
    from router.plugin_api import AgentView

NAME = "round_robin"


class Plugin:
    """One per plugin manager, so two managers in one process keep separate turns."""

    def __init__(self) -> None:
        #: queue name → id of the agent picked last
        self.last_picked: dict[str, str] = {}

    @hookimpl
    def router_configure(self) -> None:
        """Forget every queue's last pick (the options are not needed)."""
        self.last_picked.clear()

    @hookimpl
    def router_select_agent(
        self, queue: QueueConfig, candidates: Sequence[AgentView]
    ) -> int | None:
        if queue.strategy != NAME or not candidates:
            return None
        last = self.last_picked.get(queue.name)
        # indexes of the smallest id overall, and of the smallest id above `last`
        first = after = -1
        first_id = after_id = ""
        for index, agent in enumerate(candidates):
            agent_id = agent.id
            if first < 0 or agent_id < first_id:
                first, first_id = index, agent_id
            if last is not None and agent_id > last and (after < 0 or agent_id < after_id):
                after, after_id = index, agent_id
        chosen = first if after < 0 else after
        self.last_picked[queue.name] = candidates[chosen].id
        return chosen
