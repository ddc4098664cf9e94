"""The collector policy: young cyclic garbage is still freed, frozen garbage is freed by the
rare full collection, and the task does both on its schedule."""

from __future__ import annotations

import asyncio
import gc
import logging
import weakref
from collections.abc import Iterator

import pytest
from inprocess import serve_in_process

from router.runtime.collector import collect_everything, freeze_survivors, keep_heap_frozen


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def dropped_cycle() -> weakref.ref[Node]:
    """A reference cycle nobody holds any more; a weak reference that tells when it is freed."""
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()  # the rest of the test session collects as usual


def test_young_cyclic_garbage_is_freed_before_the_survivors_are_frozen() -> None:
    gc.collect()
    before = gc.get_freeze_count()
    kept = [Node() for _ in range(100)]
    cycle = dropped_cycle()
    freeze_survivors()
    assert cycle() is None
    assert gc.get_freeze_count() >= before + len(kept)


def test_frozen_cyclic_garbage_waits_for_the_full_collection() -> None:
    a, b = Node(), Node()
    a.other, b.other = b, a
    cycle = weakref.ref(a)
    gc.freeze()
    del a, b
    gc.collect()
    assert cycle() is not None  # frozen: ordinary collections skip it
    freed, seconds = collect_everything()
    assert cycle() is None
    assert freed >= 2
    assert seconds >= 0.0
    assert gc.get_freeze_count() > 0  # frozen again afterwards


@pytest.mark.asyncio
async def test_the_task_freezes_often_and_collects_everything_rarely(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="router.collector")
    gc.collect()
    task = asyncio.create_task(keep_heap_frozen(young_seconds=0.01, full_seconds=0.2))
    try:
        await asyncio.sleep(0.05)
        assert gc.get_freeze_count() > 0
        assert not [r for r in caplog.records if "full garbage collection" in r.message]
        await asyncio.sleep(0.3)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert [r for r in caplog.records if "full garbage collection" in r.message]


@pytest.mark.asyncio
async def test_the_writer_freezes_what_each_batch_made() -> None:
    # the young collections never walk a contact's record: frozen with its batch
    async for server in serve_in_process():
        gc.unfreeze()
        contact = {"id": "c1", "channel": "chat", "body": "hi"}
        assert (await server.call("POST", "/v1/contacts", json=contact))[0] == 202
        record = server.core.engine.contact("c1")
        assert record is not None
        assert gc.is_tracked(record)
        assert not any(tracked is record for tracked in gc.get_objects())
