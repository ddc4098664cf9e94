"""Queue selection `queue_match`: the first configured queue that fits the contact.

A queue fits when it takes the contact's channel and, when the contact lists
skills, its own `skills` include all of them. Queues are tried in config
order; no fit returns None (the engine then rejects the contact). It runs
last (`trylast`), so any other queue-selection plugin answers first. An
explicit, existing `contact.queue` is handled by the engine before this hook.

Options: none.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from router import hookimpl

if TYPE_CHECKING:
    from router.model import Contact, QueueConfig


@hookimpl(trylast=True)
def router_select_queue(contact: Contact, queues: Sequence[QueueConfig]) -> str | None:
    channel = contact.channel
    skills = contact.skills
    for queue in queues:
        if channel in queue.channels and all(skill in queue.skills for skill in skills):
            return queue.name
    return None
