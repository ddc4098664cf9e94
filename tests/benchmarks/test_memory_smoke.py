"""The memory benchmark runs the real daemon, fills it, restarts it and reads its memory.

Only the shape is checked, never a size or a timing (figures go in benchmarks/RESULTS.md).
"""

from __future__ import annotations

import json

import pytest
from bench_scripts import benchmark_script


@pytest.mark.integration
def test_smoke_run_reads_a_positive_rss_with_every_contact_waiting_before_and_after_a_restart(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with benchmark_script("memory") as module:
        module.main(["--smoke", "--json"])
    out = capsys.readouterr().out
    data = json.loads(out.rstrip("\n").splitlines()[-1])
    assert data["benchmark"] == "memory"
    assert data["target_met"] is None  # judged only at full size
    empty, filled, restarted = data["readings"]
    assert [r["when"] for r in data["readings"]] == ["empty", "after the fill", "after a restart"]
    contacts, agents = data["params"]["contacts"], data["params"]["agents"]
    for reading in (filled, restarted):
        assert 0 < reading["rss_mib"] <= reading["peak_rss_mib"]
        assert reading["waiting"] == contacts  # nobody could take them
        assert reading["agents"]["total"] == agents
    assert empty["waiting"] == 0
    assert restarted["ready_s"] > 0
    assert "VmHWM" in out
