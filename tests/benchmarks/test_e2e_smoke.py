"""The end-to-end MQTT benchmark runs against a real broker and daemon and reports every target.

Only the shape is checked, never a timing (timings belong in benchmarks/RESULTS.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "e2e.py"


@pytest.mark.integration
def test_the_e2e_benchmark_times_the_bare_relay_and_the_router() -> None:
    small = ["--agents", "50", "--rate", "100", "--seconds", "1", "--peak", "200"]
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--json", *small],
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    figures = {f["target"]: f for f in report["figures"]}
    assert set(figures) == {"bare", "router-50"}
    for target in figures.values():
        assert target["contacts"] == 100
        assert 0 < target["p50_ms"] <= target["p99_ms"] <= target["max_ms"]
        assert target["peak_per_s"] > 0
    router = figures["router-50"]
    assert router["cpu_ms_per_contact"] > 0
    assert router["complete_failures"] == 0  # every offer was accepted and completed
    assert "x bare" in done.stdout  # the readable table
