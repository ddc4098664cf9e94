"""The wallboard's last hour: per-minute buckets from the engine's cumulative counters."""

from __future__ import annotations

from typing import Any

from router.engine.stats import QueueCounters
from router.web.history import History


def _stats(arrived: int, answered: int = 0, in_sla: int = 0, abandoned: int = 0) -> dict[str, Any]:
    counters = QueueCounters("support", arrived, answered, in_sla, abandoned)
    return {"support": counters}


def test_a_minute_is_the_difference_of_the_counters_at_its_ends() -> None:
    history = History()
    history.sample(600.0, _stats(10, 8, 6, 1))  # the baseline: what happened before
    history.sample(630.0, _stats(13, 9, 7, 1))
    assert history.current()["support"]["offered"] == 3
    assert history.finished() == {}
    history.sample(661.0, _stats(15, 12, 9, 2))  # the next minute began at 660
    [minute] = history.finished()["support"]
    # the minute from 600 ran until the last sample inside it (630)
    assert (minute["minute"], minute["offered"], minute["answered"]) == (600, 3, 1)
    assert minute["service_level"] == 1.0
    assert history.version == 1
    now = history.current()["support"]
    # counted from the last sample of the minute before: nothing falls between
    assert (now["minute"], now["offered"], now["answered"], now["abandoned"]) == (660, 2, 3, 1)
    assert now["service_level"] == 0.5


def test_a_minute_without_finished_contacts_has_no_level() -> None:
    history = History()
    history.sample(0.0, _stats(0))
    history.sample(30.0, _stats(4))
    assert history.current()["support"]["service_level"] is None


def test_only_the_last_hour_is_kept() -> None:
    history = History(minutes=60)
    for minute in range(100):
        history.sample(minute * 60.0, _stats(minute))
    finished = history.finished()["support"]
    assert len(finished) == 60
    assert finished[-1]["minute"] == 98 * 60
    assert all(bucket["offered"] == 1 for bucket in finished[1:])


def test_counters_that_go_back_after_a_restore_give_no_negative_minute() -> None:
    history = History()
    history.sample(0.0, _stats(50, 40, 30, 5))
    history.sample(10.0, _stats(3, 1, 1, 0))
    current = history.current()["support"]
    assert (current["offered"], current["answered"], current["abandoned"]) == (0, 0, 0)
