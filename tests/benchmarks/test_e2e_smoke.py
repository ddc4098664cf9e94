"""The end-to-end benchmark runs against a real broker and daemon and reports every target.

Only the shape is checked, never a timing (timings belong in benchmarks/RESULTS.md).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import orjson
import pytest
from bench_scripts import benchmark_script

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "e2e.py"


@pytest.fixture(scope="module")
def e2e() -> Iterator[ModuleType]:
    with benchmark_script("e2e") as module:
        yield module


@pytest.mark.integration
def test_the_e2e_benchmark_times_the_bare_relays_and_the_router_over_both_transports() -> None:
    # 50 agents: one per queue, 3 slots each, so a peak of 100 (2 per queue) fits at once.
    small = ["--agents", "50", "--rate", "100", "--seconds", "1", "--peak", "100"]
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--json", *small],
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    figures = {(f["transport"], f["target"]): f for f in report["figures"]}
    assert set(figures) == {(t, n) for t in ("mqtt", "http") for n in ("bare", "router-50")}
    for target in figures.values():
        assert target["contacts"] == 100
        assert 0 < target["p50_ms"] <= target["p99_ms"] <= target["max_ms"]
        assert target["routing_peak_per_s"] > 0
        assert target["retries"] >= 0
        assert target["resets"] >= 0
    for transport in ("mqtt", "http"):
        router = figures[transport, "router-50"]
        assert router["cpu_ms_per_contact"] > 0
        assert router["lifecycle_peak_per_s"] > 0
        assert router["complete_failures"] == 0  # every offer was accepted and completed
        assert figures[transport, "bare"]["lifecycle_peak_per_s"] is None
        assert report["targets"][transport]["agents"] == 50
    assert "x bare" in done.stdout  # the readable table
    assert "routing peak" in done.stdout


def test_the_routing_peak_is_left_out_where_the_slots_cannot_take_the_burst(
    e2e: ModuleType,
) -> None:
    assert e2e.routing_peak_fits(10_000, 5_000)  # 600 slots per queue for 100 contacts
    assert not e2e.routing_peak_fits(100, 5_000)  # 6 slots per queue for 100 contacts
    assert e2e.routing_peak_fits(50, 100)


@pytest.mark.integration
@pytest.mark.asyncio
async def test_the_http_relay_publishes_a_stub_offer_before_its_202(e2e: ModuleType) -> None:
    broker = e2e.Broker()
    broker.start()
    relay = None
    try:
        async with e2e.mqtt_client(broker, "test-offers") as listener:
            await listener.subscribe(e2e.OFFERS, qos=1)
            relay, base = await e2e.start_relay(broker, "http")
            async with e2e.gateway("http", broker, base) as sender:
                await sender.send(e2e.contact_body("t", 7))  # returns on the 202
            async with asyncio.timeout(10):
                message = await anext(aiter(listener.messages))
        offer = orjson.loads(message.payload)
        assert offer["contact"]["id"] == "t-000007"
        assert message.topic.value.startswith("router/agents/a")
        assert message.topic.value.endswith("/offers")
    finally:
        if relay is not None:
            e2e.stop_relay(relay)
        broker.close()


def test_rounds_are_judged_on_the_median_of_ratios_to_the_same_rounds_bare_relay(
    e2e: ModuleType,
) -> None:
    params = e2e.Params(mode="full", agents=(100, 10_000), rate=300.0, seconds=1.0, peak=10)
    params.rounds = 3

    def figures(round: int, target: str, agents: int | None, p50: float, peak: float) -> object:
        return e2e.Figures(
            target=target,
            transport="http",
            agents=agents,
            rate=300.0,
            contacts=300,
            p50_ms=p50,
            p99_ms=p50 * 3,
            max_ms=p50 * 5,
            peak_contacts=10,
            routing_peak_per_s=peak,
            round=round,
        )

    report = e2e.Report(params=params, machine={})
    # (bare p50, router p50): the ratios are 1.5, 3.0 and 1.9; each against its own round
    for round, (bare_p50, router_p50) in enumerate([(1.0, 1.5), (0.5, 1.5), (2.0, 3.8)], 1):
        report.figures += [
            figures(round, "bare", None, bare_p50, 1000.0),
            figures(round, "router-100", 100, router_p50, 600.0),
            figures(round, "router-10000", 10_000, router_p50, 400.0 + 100 * round),
        ]
    targets = report.targets("http")
    assert [r["p50_x_bare"] for r in targets["rounds"]] == [1.5, 3.0, 1.9]
    assert targets["p50_x_bare"] == 1.9  # the median ratio, not the ratio of medians (1.5)
    assert targets["p50_x_bare_met"] is True
    assert targets["routing_peak_of_bare"] == pytest.approx(0.6)
    assert targets["p99_ms"] == pytest.approx(4.5)
    assert targets["p50_growth"] == 1.0
    assert "rounds: 1.50, 3.00, 1.90" in e2e.render(report)
