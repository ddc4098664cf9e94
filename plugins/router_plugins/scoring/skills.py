"""Scoring term `skills`: how well each candidate knows what the contact needs.

The skills considered are the queue's `skills` plus the contact's explicit
`skills` (each once). A candidate's score is its mean proficiency over them
divided by 10 (proficiency is 1..10; a skill it lacks counts 0). Abstains
when there are no skills to consider.

Options: none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from router import hookimpl
from router.model import PROFICIENCY_MAX, lookup

if TYPE_CHECKING:
    from router.model import QueueConfig
    from router.plugin_api import AgentView, ContactView

TERM = "skills"


@hookimpl
def router_score_agents(
    contact: ContactView, queue: QueueConfig, candidates: Sequence[AgentView]
) -> Mapping[str, Sequence[float]] | None:
    wanted = contact.contact.skills
    skills = tuple(dict.fromkeys((*queue.skills, *wanted))) if wanted else queue.skills
    if not skills or not candidates:
        return None
    scale = 1.0 / (PROFICIENCY_MAX * len(skills))
    if len(skills) == 1:
        (skill,) = skills
        return {TERM: [lookup(a.profile.skills, skill, 0) * scale for a in candidates]}
    scores: list[float] = []
    for agent in candidates:
        own = agent.profile.skills
        total = 0
        for skill in skills:
            total += lookup(own, skill, 0)
        scores.append(total * scale)
    return {TERM: scores}
