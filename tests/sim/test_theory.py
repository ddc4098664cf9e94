"""The simulator (the real engine and plugins) against Erlang C and Erlang A.

Each operating point is one long run with a fixed seed, so the test is
deterministic; the tolerances come from the seed-to-seed spread measured on
the same horizon (6 to 8 seeds each, `sd` below), at about 4 to 5 standard
deviations, plus nothing else: a flaky test is a defect.

| point                         | contacts | figure         | theory | seeds: mean (sd)  |
|-------------------------------|---------:|----------------|-------:|-------------------|
| M/M/10, rho 0.8, AHT 180 s    |   64,000 | service level  | 0.672  | 0.667 (0.0067)    |
|                               |          | ASA s          | 36.8   | 37.6 (1.9)        |
|                               |          | occupancy      | 0.800  | 0.801 (0.0026)    |
| M/M/3, rho 0.7, AHT 60 s      |   40,000 | service level  | 0.635  | 0.635 (0.0054)    |
|                               |          | ASA s          | 32.8   | 32.7 (1.5)        |
|                               |          | occupancy      | 0.700  | 0.701 (0.0035)    |
| M/M/20+M, a 18, patience 180 s|   21,000 | abandoned      | 0.0499 | 0.0495 (0.0028)   |
|                               |          | occupancy      | 0.855  | 0.857 (0.0035)    |
| M/M/10+M, a 9, patience 60 s  |   21,600 | abandoned      | 0.1154 | 0.1158 (0.0017)   |
|                               |          | occupancy      | 0.796  | 0.796 (0.0044)    |

Service level is at the queue's 20 s; waits count from arrival to assignment.
A point is (agents, utilization or load, AHT or patience, hours, tolerances...).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sim_helpers import config_file, mmc_workload, simulate

from router.sim.erlang import erlang_a_figures, erlang_c_figures

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    "point",
    [
        pytest.param((10, 0.8, 180.0, 400, 0.03, 9.0), id="M/M/10 rho 0.8"),
        pytest.param((3, 0.7, 60.0, 320, 0.03, 6.5), id="M/M/3 rho 0.7"),
    ],
)
def test_mmc_service_level_and_asa_agree_with_erlang_c(
    tmp_path: Path, point: tuple[int, float, float, float, float, float]
) -> None:
    agents, utilization, aht, hours, sl_tol, asa_tol = point
    rate = utilization * agents / aht  # per second
    workload = mmc_workload(
        tmp_path, agents=agents, rate_per_hour=rate * 3600, aht=aht, hours=hours, warmup=3600
    )
    report = simulate(config_file(tmp_path), workload)
    theory = erlang_c_figures(rate, aht, agents, 20.0)
    queue = report.queues["q"]
    assert queue.abandoned == 0
    assert queue.service_level == pytest.approx(theory.service_level, abs=sl_tol)
    assert queue.asa_seconds == pytest.approx(theory.asa_seconds, abs=asa_tol)
    assert report.occupancy == pytest.approx(theory.occupancy, abs=0.015)
    assert queue.aht_seconds == pytest.approx(aht, rel=0.03)


@pytest.mark.parametrize(
    "point",
    [
        pytest.param((20, 18.0, 180.0, 60, 0.012), id="M/M/20+M a 18"),
        pytest.param((10, 9.0, 60.0, 120, 0.008), id="M/M/10+M a 9"),
    ],
)
def test_mmc_m_abandonment_agrees_with_erlang_a(
    tmp_path: Path, point: tuple[int, float, float, float, float]
) -> None:
    agents, load, patience, hours, abandon_tol = point
    aht = 180.0
    rate = load / aht
    workload = mmc_workload(
        tmp_path,
        agents=agents,
        rate_per_hour=rate * 3600,
        aht=aht,
        patience=patience,
        hours=hours,
        warmup=3600,
    )
    report = simulate(config_file(tmp_path), workload)
    theory = erlang_a_figures(rate, aht, patience, agents)
    queue = report.queues["q"]
    assert queue.abandon_rate == pytest.approx(theory.abandon_probability, abs=abandon_tol)
    assert report.occupancy == pytest.approx(theory.occupancy, abs=0.02)
    # and not Erlang C: without abandonment the same load would wait far longer
    assert queue.asa_seconds < erlang_c_figures(rate, aht, agents, 20.0).asa_seconds
