"""The report's figures, its table and the side-by-side comparison."""

from __future__ import annotations

from pathlib import Path

import pytest
from sim_helpers import config_file, mmc_workload, simulate

from router.sim import compare, table
from router.sim.report import QueueFigures


def test_service_level_counts_abandoned_and_unanswered_as_not_answered() -> None:
    figures = QueueFigures(
        offered=10,
        answered=6,
        handled=6,
        abandoned=4,
        service_level=0.5,
        asa_seconds=3.0,
        aht_seconds=100.0,
        longest_wait_seconds=40.0,
        sla_seconds=20.0,
    )
    data = figures.to_json()
    assert list(data)[:6] == [
        "offered",
        "handled",
        "abandoned",
        "service_level",
        "asa_seconds",
        "sla_seconds",
    ]
    assert data["abandon_rate"] == pytest.approx(0.4)


def test_the_table_and_the_comparison_read_well(tmp_path: Path) -> None:
    workload = mmc_workload(tmp_path, agents=3, rate_per_hour=50, patience=60, hours=2)
    first = simulate(config_file(tmp_path, name="a.toml"), workload)
    second = simulate(config_file(tmp_path, wrapup=30, name="b.toml"), workload)
    text = table.render(first, title="a.toml: ")
    assert text.startswith("a.toml: simulated 2 h (warm-up 600 s, seed 1): ")
    queue = first.queues["q"]
    row = next(line for line in text.splitlines() if line.startswith("q "))
    assert f"{queue.offered:,}" in row
    assert table.percent(queue.service_level) in row
    assert "00:00 w" in text  # the warm-up interval is marked
    assert "00:15" in text
    diff = compare.difference(first, second)
    assert diff["queues"]["q"]["offered"] == 0  # same arrivals
    assert diff["queues"]["q"]["service_level"] == pytest.approx(
        second.queues["q"].service_level - queue.service_level
    )
    assert diff["agents"]["occupancy"] == pytest.approx(second.occupancy - first.occupancy)
    rendered = compare.render(first, second, ("a.toml", "b.toml"))
    assert "q service_level" in rendered
    assert " pt" in rendered


def test_clock_and_columns() -> None:
    assert table.clock(0) == "00:00"
    assert table.clock(13 * 3600 + 45 * 60) == "13:45"
    assert table.clock(86400 + 900) == "00:15 +1d"
    assert table.columns([("A", "BB"), ("ccc", "d")]) == "A    BB\nccc   d"
