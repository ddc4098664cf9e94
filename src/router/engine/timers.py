"""The engine's own timers: a heap of (due, seq, key), cancelled lazily.

The engine never sleeps; its host asks `next_due()` and sends a `Tick` then.
A fired key is checked against the current state by its handler, so a timer
that no longer applies (an offer already answered) simply does nothing. A
timer known to be void may also be `cancel`led: it is then dropped from the
heap without firing, so the host is not woken for it (`next_due` skips it).
"""

from __future__ import annotations

import heapq
from typing import Literal, NamedTuple

# NamedTuples: cheap to build and to hash, and the engine arms and cancels one or two per
# contact. Each carries its kind as a last field, so that keys of two kinds with the same
# values (an offer and a contact may share an id) are never equal.


class OfferExpiry(NamedTuple):
    offer_id: str
    kind: Literal["offer_expiry"] = "offer_expiry"


class WrapupEnd(NamedTuple):
    contact_id: str
    kind: Literal["wrapup_end"] = "wrapup_end"


class EscalationDue(NamedTuple):
    contact_id: str
    #: the contact's escalation epoch: a transfer or a reload arms the steps again
    epoch: int
    step: int
    kind: Literal["escalation_due"] = "escalation_due"


class ReofferDue(NamedTuple):
    """An agent that declined a contact may take it again."""

    contact_id: str
    agent_id: str
    kind: Literal["reoffer_due"] = "reoffer_due"


TimerKey = OfferExpiry | WrapupEnd | EscalationDue | ReofferDue


class Timers:
    def __init__(self) -> None:
        #: (due, rank, seq, key): at one instant, lower ranks fire first, then arming order
        self._heap: list[tuple[float, int, int, TimerKey]] = []
        self._seq = 0
        #: armed keys cancelled before they fired; each leaves the set when popped
        self._cancelled: set[TimerKey] = set()

    def arm(self, due: float, key: TimerKey) -> None:
        self._seq += 1
        # A reoffer delay ending lets an agent choose among what waits; it goes first
        # so that other timers of the same instant (an expiry that re-routes a
        # contact) cannot take that agent out of FIFO order.
        rank = 0 if isinstance(key, ReofferDue) else 1
        heapq.heappush(self._heap, (due, rank, self._seq, key))

    def cancel(self, key: TimerKey) -> None:
        """Void an armed timer that has not fired (its handler would do nothing anyway).

        Only for a key armed once and still in the heap, such as the expiry of an
        offer just answered: the key is forgotten when its entry is popped.
        """
        self._cancelled.add(key)

    def next_due(self) -> float | None:
        heap, cancelled = self._heap, self._cancelled
        while cancelled and heap and heap[0][3] in cancelled:
            cancelled.discard(heapq.heappop(heap)[3])
        if not heap:
            cancelled.clear()  # nothing armed, nothing to cancel: a stray key cannot linger
            return None
        return heap[0][0]

    def pop_due(self, now: float) -> tuple[float, TimerKey] | None:
        """The earliest timer due at or before `now`, removed, with its due time."""
        heap, cancelled = self._heap, self._cancelled
        while heap and heap[0][0] <= now:
            due, _, _, key = heapq.heappop(heap)
            if cancelled and key in cancelled:
                cancelled.discard(key)
                continue
            return due, key
        return None

    def __len__(self) -> int:
        return len(self._heap) - len(self._cancelled)
