"""The decision-cost benchmark runs and reports figures of the right shape.

Only the shape is checked, never a timing: timings belong in
benchmarks/RESULTS.md, not in assertions (DESIGN "Making it fast").
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import ModuleType

import pytest
from bench_scripts import benchmark_script

FIGURES = {
    "decisions",
    "median_us",
    "p90_us",
    "p99_us",
    "max_us",
    "mean_us",
    "cpu_median_us",
    "cpu_p99_us",
    "setup_s",
    "offers_per_decision",
    "gc_collections",
    "load_before",
    "load_after",
}


@pytest.fixture(scope="module")
def decision_cost() -> Iterator[ModuleType]:
    with benchmark_script("decision_cost") as module:
        yield module


def test_smoke_run_prints_a_table_and_one_json_line(
    decision_cost: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    decision_cost.main(["--smoke", "--json"])

    out = capsys.readouterr().out
    lines = out.rstrip("\n").splitlines()
    assert "arrive" in out
    assert "free" in out
    assert "gc.freeze()" in out
    data = json.loads(lines[-1])
    assert data["benchmark"] == "decision_cost"
    assert data["params"]["mode"] == "smoke"
    assert data["machine"]["nproc"] >= 1
    assert [r["agents"] for r in data["results"]] == [100]
    for kind in ("arrive", "free"):
        figures = data["results"][0][kind]
        assert set(figures) == FIGURES
        assert figures["decisions"] == 200
        assert 0 < figures["median_us"] <= figures["p90_us"] <= figures["p99_us"]
        assert figures["p99_us"] <= figures["max_us"]
        assert figures["cpu_median_us"] > 0
        assert figures["offers_per_decision"] >= 0
        assert len(figures["gc_collections"]) == 3
    # growth and targets need the 1,000 and 10,000 agent runs, which smoke mode skips
    assert data["growth_1k_to_10k"] is None
    assert data["targets"] is None


def test_growth_and_targets_have_one_entry_per_figure(decision_cost: ModuleType) -> None:
    def figures(median: float, p99: float) -> object:
        return decision_cost.Figures(
            decisions=10,
            median_us=median,
            p90_us=median,
            p99_us=p99,
            max_us=p99,
            mean_us=median,
            cpu_median_us=median,
            cpu_p99_us=p99,
            setup_s=0.0,
            offers_per_decision=1.0,
            gc_collections=[0, 0, 0],
            load_before=0.0,
            load_after=0.0,
        )

    report = decision_cost.Report(params=decision_cost.MODES["quick"], machine={})
    for agents, median, p99 in ((1_000, 100.0, 150.0), (10_000, 120.0, 300.0)):
        report.results.append(
            decision_cost.SizeResult(agents, figures(median, p99), figures(median, p99))
        )

    growth = report.growth()
    assert growth is not None
    assert growth["arrive_median"] == pytest.approx(1.2)
    assert growth["free_p99"] == pytest.approx(2.0)
    assert len(growth) == 8
    targets = report.targets()
    assert targets is not None
    assert targets["arrive_p99_at_10k"] is False
    assert targets["arrive_median_growth"] is True
    assert targets["free_cpu_p99_growth"] is False
    json.dumps(report.to_json())  # serializable as printed by --json
