"""CPython's cyclic garbage collector, kept off the latency path.

A full collection walks every tracked object the collector has not been told to
ignore. With 10,000 agents, their indexes and the finished contacts kept for
lookups, that is millions of objects and a pause of 90-240 ms on the 2-core
machine (`benchmarks/e2e.py` with a `gc.callbacks` probe: five such pauses in
20 s of 300 contacts/s, each of which found nothing to free), and every
contact in flight waits through it. Freezing the heap once after the restore
(`RouterCore._rebuild`) does not cover what the daemon builds while it runs:
agents come by `PUT /v1/agents`, finished contacts are kept.

So the writer freezes everything after each batch (`freeze_batch`): what a
batch made and kept (its records, events, index entries) is never walked by the
young collections, which see at most the one batch in progress. Every
`young_seconds` the young generations are also collected and what survives is
frozen, for what is made between batches (an idle daemon's requests). Full
collections then walk only what was made since the last freeze. Cyclic garbage
among frozen objects is never found that way (objects without cycles are freed
by reference counting, frozen or not), so every `full_seconds` everything is
unfrozen, collected once, and frozen again, and the log says how much that
collection freed and how long it took: a count that keeps growing is a leak.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time

log = logging.getLogger("router.collector")

#: how often what survived the young generations is frozen
YOUNG_SECONDS = 1.0
#: how often everything is collected once (the pause it costs, once in this long)
FULL_SECONDS = 3600.0


def freeze_batch() -> None:
    """Freeze everything tracked now, without collecting; the writer's after each batch.

    `gc.freeze` moves the generations' lists whole (a constant cost) and zeroes the
    young generation's count. Collecting young generations that held the last second's
    records cost 13 µs a contact in the daemon (`benchmarks/e2e.py`, gc callbacks:
    0.72 s of collections in a run, 0.18 s this way, session 18). The price: cyclic
    garbage a batch leaves waits for the full collection, and there is little of it
    (381 objects after a whole e2e run, unfrozen and collected at its end).
    """
    gc.freeze()


def freeze_survivors() -> None:
    """Collect the young generations, then freeze everything still tracked."""
    gc.collect(1)
    gc.freeze()


def collect_everything() -> tuple[int, float]:
    """Unfreeze, collect all generations, freeze again; (objects freed, seconds taken)."""
    started = time.perf_counter()
    gc.unfreeze()
    freed = gc.collect()
    gc.freeze()
    return freed, time.perf_counter() - started


async def keep_heap_frozen(
    young_seconds: float = YOUNG_SECONDS, full_seconds: float = FULL_SECONDS
) -> None:
    """Run until cancelled: freeze survivors often, collect everything rarely."""
    last_full = time.monotonic()
    while True:
        await asyncio.sleep(young_seconds)
        if time.monotonic() - last_full >= full_seconds:
            freed, took = collect_everything()
            last_full = time.monotonic()
            log.info(
                "full garbage collection: %d objects freed in %.0f ms",
                freed,
                took * 1000,
                extra={"freed": freed, "ms": round(took * 1000, 1)},
            )
        else:
            freeze_survivors()
