"""The simulator benchmark runs and reports figures of the right shape (never a timing)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from types import ModuleType

import pytest
from bench_scripts import benchmark_script


@pytest.fixture(scope="module")
def bench() -> Iterator[ModuleType]:
    with benchmark_script("simulate") as module:
        yield module


def test_smoke_run_prints_a_table_and_one_json_line(
    bench: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    bench.main(["--smoke", "--json"])
    lines = capsys.readouterr().out.rstrip("\n").splitlines()
    assert "router/ciw" in lines[1]
    data = json.loads(lines[-1])
    assert data["benchmark"] == "simulate"
    (row,) = data["results"]
    assert row["servers"] == 5
    assert row["router"]["contacts"][0] > 200  # about 300 arrivals, drained
    assert row["router"]["contacts_per_second"] > 0
    if data["ciw_skipped"] is None:
        assert row["ciw"]["contacts_per_second"] > 0
        assert row["ratio"] == pytest.approx(
            row["router"]["contacts_per_second"] / row["ciw"]["contacts_per_second"]
        )
    else:
        assert "pip install" in data["ciw_skipped"]
        assert "ciw" not in row


def test_without_ciw_the_router_figures_still_come(
    bench: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ciw", None)
    report = bench.measure(bench.MODES["smoke"])
    assert "not installed" in report["ciw_skipped"]
    assert "skipped" in bench.table(report)
    assert report["results"][0]["router"]["contacts_per_second"] > 0
