"""The engine's own timers: a heap of (due, seq, key), cancelled lazily.

The engine never sleeps; its host asks `next_due()` and sends a `Tick` then.
A fired key is checked against the current state by its handler, so a timer
that no longer applies (an offer already answered) simply does nothing. A
timer known to be void may also be `cancel`led: it is then dropped from the
heap without firing, so the host is not woken for it (`next_due` skips it).
"""

from __future__ import annotations

# by name: compiled, `heapq.heappush(...)` looks the function up on the module at every call
from heapq import heappop, heappush
from typing import Final

from router.value import Value

# Plain compiled classes, not NamedTuples: the engine arms one key or more per contact and
# cancels one, and compiled, a NamedTuple's generated `__new__` still runs as plain Python
# (about 2,500 instructions a build). Each compares and hashes by its own fields, without
# the generic `Value` lookups by name; a key of one kind never equals one of another, even
# with the same values (an offer and a contact may share an id).


class OfferExpiry(Value):
    __match_args__ = ("offer_id",)

    def __init__(self, offer_id: str) -> None:
        self.offer_id: Final = offer_id

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OfferExpiry) and other.offer_id == self.offer_id

    def __hash__(self) -> int:
        return hash(self.offer_id)


class WrapupEnd(Value):
    __match_args__ = ("contact_id",)

    def __init__(self, contact_id: str) -> None:
        self.contact_id: Final = contact_id

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WrapupEnd) and other.contact_id == self.contact_id

    def __hash__(self) -> int:
        return hash(self.contact_id)


class EscalationDue(Value):
    __match_args__ = ("contact_id", "epoch", "step")

    def __init__(self, contact_id: str, epoch: int, step: int) -> None:
        self.contact_id: Final = contact_id
        #: the contact's escalation epoch: a transfer or a reload arms the steps again
        self.epoch: Final = epoch
        self.step: Final = step

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, EscalationDue)
            and other.contact_id == self.contact_id
            and other.epoch == self.epoch
            and other.step == self.step
        )

    def __hash__(self) -> int:
        return hash((self.contact_id, self.epoch, self.step))


class ReofferDue(Value):
    """An agent that declined a contact may take it again."""

    __match_args__ = ("contact_id", "agent_id")

    def __init__(self, contact_id: str, agent_id: str) -> None:
        self.contact_id: Final = contact_id
        self.agent_id: Final = agent_id

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, ReofferDue)
            and other.contact_id == self.contact_id
            and other.agent_id == self.agent_id
        )

    def __hash__(self) -> int:
        return hash((self.contact_id, self.agent_id))


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
        heappush(self._heap, (due, rank, self._seq, key))

    def cancel(self, key: TimerKey) -> None:
        """Void an armed timer that has not fired (its handler would do nothing anyway).

        Only for a key armed once and still in the heap, such as the expiry of an
        offer just answered: the key is forgotten when its entry is popped.
        """
        self._cancelled.add(key)

    def next_due(self) -> float | None:
        heap, cancelled = self._heap, self._cancelled
        while cancelled and heap and heap[0][3] in cancelled:
            cancelled.discard(heappop(heap)[3])
        if not heap:
            cancelled.clear()  # nothing armed, nothing to cancel: a stray key cannot linger
            return None
        return heap[0][0]

    def pop_due(self, now: float) -> tuple[float, TimerKey] | None:
        """The earliest timer due at or before `now`, removed, with its due time."""
        heap, cancelled = self._heap, self._cancelled
        while heap and heap[0][0] <= now:
            due, _, _, key = heappop(heap)
            if cancelled and key in cancelled:
                cancelled.discard(key)
                continue
            return due, key
        return None

    def __len__(self) -> int:
        return len(self._heap) - len(self._cancelled)
