"""The one benchmark command runs the scripts in turn and combines their JSON (never a timing)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import ModuleType

import pytest
from bench_scripts import benchmark_script


@pytest.fixture(scope="module")
def runner() -> Iterator[ModuleType]:
    with benchmark_script("run") as module:
        yield module


def test_the_runner_prints_each_script_and_one_combined_json_document(
    runner: ModuleType, capfd: pytest.CaptureFixture[str]
) -> None:
    code = runner.main(["--smoke", "--json", "--only", "decision_cost,simulate"])

    out = capfd.readouterr().out
    assert code == 0
    assert "=== decision_cost" in out
    assert "=== simulate" in out
    assert "router/ciw" in out  # the simulate script's own table, echoed
    document = json.loads(out.rstrip("\n").splitlines()[-1])
    assert document["mode"] == "smoke"
    assert document["benchmarks"]["decision_cost"]["benchmark"] == "decision_cost"
    assert document["benchmarks"]["simulate"]["benchmark"] == "simulate"
    assert [r["returncode"] for r in document["runs"]] == [0, 0]


def test_every_script_runs_in_the_documented_order_and_smoke_keeps_the_tiny_ones(
    runner: ModuleType,
) -> None:
    assert runner.chosen(None, smoke=False) == list(runner.BENCHMARKS)
    assert runner.chosen("e2e,memory", smoke=True) == ["memory"]
    with pytest.raises(SystemExit, match="unknown benchmark"):
        runner.chosen("nonesuch", smoke=False)
    for name in runner.BENCHMARKS:
        assert (runner.HERE / f"{name}.py").is_file()
