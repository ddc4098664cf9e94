"""Scoring term `language`: prefer agents who speak the customer's language.

1.0 when `customer.language` is one of the agent's `languages` (exact match,
so "en" and "en-GB" differ), else 0.0. Abstains when the customer has no
language. A queue with `require_language` makes this an eligibility rule in
the engine instead.

Options: none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from router import hookimpl

if TYPE_CHECKING:
    from router.plugin_api import AgentView, ContactView

TERM = "language"


@hookimpl
def router_score_agents(
    contact: ContactView, candidates: Sequence[AgentView]
) -> Mapping[str, Sequence[float]] | None:
    language = contact.contact.customer.language
    if not language or not candidates:
        return None
    return {TERM: [1.0 if language in a.profile.languages else 0.0 for a in candidates]}
