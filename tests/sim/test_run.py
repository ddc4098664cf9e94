"""The event loop around the real engine: determinism, common random numbers, shifts,
answer delays and rejects, wrap-up, abandonment, replay."""

from __future__ import annotations

from pathlib import Path

import pytest
from sim_helpers import config_file, mmc_workload, simulate, without_timing

from router.config import load_config_and_plugins
from router.sim.report import build
from router.sim.run import Simulation
from router.sim.workload import load_workload


def test_same_seed_same_report_other_seed_other_report(tmp_path: Path) -> None:
    config = config_file(tmp_path)
    workload = mmc_workload(tmp_path, agents=5, rate_per_hour=80, patience=60, hours=3)
    first = without_timing(simulate(config, workload))
    assert first == without_timing(simulate(config, workload))
    other = without_timing(simulate(config, workload, seed=2))
    assert other != first
    assert other["seed"] == 2


def test_two_configs_see_the_same_contacts(tmp_path: Path) -> None:
    """Common random numbers: what arrives, and its handle time, do not depend on the config."""
    workload = mmc_workload(tmp_path, agents=4, rate_per_hour=60, hours=2, warmup=0)
    plain = simulate(config_file(tmp_path, name="a.toml"), workload)
    wrapup = simulate(config_file(tmp_path, wrapup=30, name="b.toml"), workload)
    assert plain.contacts == wrapup.contacts
    assert plain.queues["q"].offered == wrapup.queues["q"].offered
    # the same talk times, plus 30 s of wrap-up each
    assert wrapup.queues["q"].aht_seconds == pytest.approx(plain.queues["q"].aht_seconds + 30)
    assert wrapup.occupancy > plain.occupancy
    assert wrapup.queues["q"].asa_seconds >= plain.queues["q"].asa_seconds


def test_counts_add_up_and_warmup_is_left_out(tmp_path: Path) -> None:
    workload = mmc_workload(tmp_path, agents=3, rate_per_hour=150, patience=30, hours=4)
    report = simulate(config_file(tmp_path), workload)
    queue = report.queues["q"]
    assert queue.offered > 0
    assert queue.answered + queue.abandoned == queue.offered  # drained: nobody left waiting
    assert queue.handled == queue.answered
    assert queue.abandoned > 0
    assert 0 < queue.service_level < 1
    # the per-interval figures count every contact, warm-up included
    by_interval = sum(q["offered"] for i in report.intervals for q in i["queues"].values())
    assert by_interval == report.contacts > queue.offered
    handled = sum(q["handled"] for i in report.intervals for q in i["queues"].values())
    assert handled > queue.handled
    assert all(
        q["aht_seconds"] > 0 for i in report.intervals for q in i["queues"].values() if q["handled"]
    )
    assert report.intervals[0]["warmup"]
    assert not report.intervals[1]["warmup"]
    assert len(report.intervals) == 16
    assert 0 < report.occupancy <= 1


def test_shifts_staff_only_their_hours(tmp_path: Path) -> None:
    workload = mmc_workload(
        tmp_path,
        agents=2,
        rate_per_hour=20,
        hours=4,
        warmup=0,
        extra_agent_keys="shifts = [{start_seconds = 3600, end_seconds = 7200}]",
    )
    report = simulate(config_file(tmp_path), workload)
    group = report.groups["group1"]
    # two agents for one hour, plus what they finish after the shift (at most the tail)
    assert 2.0 <= group["staffed_hours"] < 2.6
    staffed = [i["agents_staffed"] for i in report.intervals]
    assert staffed[:4] == [0, 0, 0, 0]
    assert staffed[4:8] == [pytest.approx(2.0)] * 4
    # nobody answers outside the shift: what waited from the start is answered at 01:00
    assert report.queues["q"].longest_wait_seconds > 1800


def test_answer_delay_and_rejects_go_through_the_engine(tmp_path: Path) -> None:
    keys = 'answer_delay = {distribution = "constant", seconds = 5}\nreject_probability = 0.3'
    workload = mmc_workload(tmp_path, agents=4, rate_per_hour=40, hours=3, extra_agent_keys=keys)
    report = simulate(config_file(tmp_path), workload)
    queue = report.queues["q"]
    assert queue.handled == queue.offered
    assert queue.asa_seconds >= 5.0  # every answer takes 5 s, some need a second offer
    assert queue.longest_wait_seconds >= 10.0


def test_a_slow_answer_times_out_and_the_contact_goes_on(tmp_path: Path) -> None:
    keys = 'answer_delay = {distribution = "constant", seconds = 30}'
    workload = mmc_workload(tmp_path, agents=2, rate_per_hour=4, hours=2, extra_agent_keys=keys)
    config, plugins = load_config_and_plugins(config_file(tmp_path, timeout=10))
    simulation = Simulation(config.engine, plugins, load_workload(workload))
    report = build(simulation.run())
    # every offer expires before the agent answers; missed offers set the agents away
    assert report.queues["q"].answered == 0
    assert report.unresolved > 0 or report.queues["q"].offered == 0
    agents = simulation.engine.agents.values()
    assert all(str(a.state) == "away" for a in agents)


def test_a_contact_offered_but_not_answered_may_still_abandon(tmp_path: Path) -> None:
    keys = 'answer_delay = {distribution = "constant", seconds = 15}'
    workload = mmc_workload(
        tmp_path, agents=50, rate_per_hour=60, patience=5, hours=2, extra_agent_keys=keys
    )
    report = simulate(config_file(tmp_path, timeout=60), workload)
    queue = report.queues["q"]
    # plenty of agents, so every contact is offered at once; most ring out before 15 s
    assert queue.abandon_rate > 0.9
    assert queue.answered + queue.abandoned == queue.offered


def test_a_replayed_trace_is_routed_by_the_engine(tmp_path: Path) -> None:
    (tmp_path / "trace.jsonl").write_text(
        '{"channel": "voice", "queue": "q", "arrival_seconds": 10, "handle_seconds": 100}\n'
        '{"channel": "voice", "queue": "q", "arrival_seconds": 20, "handle_seconds": 100}\n'
        '{"channel": "chat", "skills": ["s"], "arrival_seconds": 30, "handle_seconds": 50}\n'
        '{"channel": "sms", "arrival_seconds": 40, "handle_seconds": 50}\n',
        encoding="utf-8",
    )
    workload = tmp_path / "replay.toml"
    workload.write_text(
        """[simulation]
duration_seconds = 600
[[simulation.replay]]
file = "trace.jsonl"
[[simulation.agents]]
count = 1
skills = {s = 5}
capacity = {voice = 1, chat = 1}
""",
        encoding="utf-8",
    )
    report = simulate(config_file(tmp_path), workload)
    queue = report.queues["q"]
    assert (queue.offered, queue.handled, report.rejected) == (3, 3, 1)  # no queue takes sms
    # one agent: the second call waits for the first (90 s); the chat waits for the call
    assert queue.longest_wait_seconds == pytest.approx(180.0)
    assert queue.asa_seconds == pytest.approx((0 + 90 + 180) / 3)


def test_engine_timers_fire_on_time_escalation_and_wrapup(tmp_path: Path) -> None:
    """Only `overflow` agents exist, and they may take `main` contacts from the 30 s step on:
    every wait is then at least 30 s, and not much more (the step fires on time)."""
    config = tmp_path / "router.toml"
    config.write_text(
        """
[[queues]]
name = "main"
channels = ["voice"]
skills = ["main"]
sla_seconds = 20
[[queues.escalation]]
after_seconds = 30
add_queues = ["overflow"]

[[queues]]
name = "overflow"
channels = ["voice"]
skills = ["general"]
wrapup_seconds = 15
""",
        encoding="utf-8",
    )
    workload = tmp_path / "workload.toml"
    workload.write_text(
        """
[simulation]
duration_seconds = 7200
[[simulation.arrivals]]
channel = "voice"
queue = "main"
rate_per_hour = 20
handle_time = {distribution = "constant", seconds = 60}
[[simulation.agents]]
count = 10
skills = {general = 5}
""",
        encoding="utf-8",
    )
    report = simulate(config, workload)
    main = report.queues["main"]
    assert main.answered == main.offered > 20
    assert main.service_level == 0.0  # nobody within 20 s: nobody may take them before 30 s
    assert main.asa_seconds == pytest.approx(30.0, abs=1.0)
    assert main.longest_wait_seconds < 31.0
    assert main.aht_seconds == pytest.approx(60.0)  # main's own wrap-up (none), not overflow's
