"""The workload reader: the CONTRACT 5 example reads; every mistake is a FILE:LINE problem."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from router.config_reader import ConfigError
from router.sim.distributions import Constant, Empirical, Exponential, Lognormal
from router.sim.workload import load_workload

CONTRACT_EXAMPLE = """
[simulation]
duration_seconds = 28800
warmup_seconds = 600
seed = 1

[[simulation.arrivals]]
channel = "voice"
queue = "support"
rate_per_hour = 1200
handle_time = {distribution = "exponential", mean_seconds = 180}
patience = {distribution = "exponential", mean_seconds = 120}   # absent: nobody abandons

[[simulation.agents]]
count = 12
skills = {support = 5}
capacity = {voice = 1}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "workload.toml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_workload(write(tmp_path, text))
    return [str(p) for p in caught.value.problems]


def test_the_contract_example_reads(tmp_path: Path) -> None:
    workload = load_workload(write(tmp_path, CONTRACT_EXAMPLE))
    assert (workload.duration, workload.warmup, workload.seed) == (28800, 600, 1)
    (stream,) = workload.arrivals
    assert stream.template.channel == "voice"
    assert stream.template.queue == "support"
    assert stream.profile.piece(0.0) == (pytest.approx(1200 / 3600), math.inf)
    assert stream.handle_time == Exponential(180.0)
    assert stream.patience == Exponential(120.0)
    (group,) = workload.agents
    assert (group.count, group.skills, group.capacity) == (12, {"support": 5}, {"voice": 1})
    assert group.answer_delay == Constant(0.0)
    assert group.shifts == ()


def test_every_distribution_and_profile_kind_reads(tmp_path: Path) -> None:
    (tmp_path / "aht.csv").write_text("seconds,agent\n100,a\n200,b\n300,c\n", encoding="utf-8")
    workload = load_workload(
        write(
            tmp_path,
            """
[simulation]
duration_seconds = 7200
[[simulation.arrivals]]
channel = "chat"
hourly_rates = [10, 20]
handle_time = {distribution = "empirical", file = "aht.csv", column = "seconds"}
patience = {distribution = "lognormal", mean_seconds = 60, sd_seconds = 30}
[[simulation.arrivals]]
channel = "email"
profile = [{start_seconds = 0, rate_per_hour = 0}, {start_seconds = 1800, rate_per_hour = 60}]
handle_time = {distribution = "constant", seconds = 30}
contact = {customer = {tier = "vip", language = "fr"}, skills = ["billing"]}
[[simulation.agents]]
name = "day"
count = 2
capacity = {chat = 3, email = 5}
shifts = [{start_seconds = 0, end_seconds = 3600}, {start_seconds = 4000, end_seconds = 7200}]
answer_delay = {distribution = "exponential", mean_seconds = 4}
reject_probability = 0.1
""",
        )
    )
    chat, email = workload.arrivals
    assert chat.handle_time == Empirical((100.0, 200.0, 300.0), source="aht.csv")
    assert isinstance(chat.patience, Lognormal)
    assert chat.profile.period == 7200
    assert chat.profile.piece(3700) == (pytest.approx(20 / 3600), 7200)
    assert chat.profile.piece(7300) == (pytest.approx(10 / 3600), 10800)  # the curve repeats
    assert email.profile.piece(100) == (0.0, 1800)
    assert email.template.customer.tier == "vip"
    assert email.template.skills == ("billing",)
    assert workload.agents[0].shifts[1].start == 4000
    assert workload.agents[0].reject_probability == 0.1


def test_mistakes_are_reported_with_file_and_line(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """[simulation]
duration_seconds = 3600
warmup_seconds = 3600
sede = 3

[[simulation.arrivals]]
channel = "voice"
rate_per_hour = 10
handle_time = {distribution = "gamma", mean_seconds = 3}

[[simulation.arrivals]]
channel = "voice"
rate_per_hour = 10
hourly_rates = [1]

[[simulation.agents]]
count = -1
skills = {s = 11}
reject_probability = 1.5
shifts = [{start_seconds = 100, end_seconds = 50}, {start_seconds = 200}]
""",
    )
    file = str(tmp_path / "workload.toml")
    assert f"{file}:3: 'warmup_seconds' must be less than 'duration_seconds'" in found
    assert f"{file}:4: unknown key 'sede' in [simulation]; did you mean 'seed'?" in found
    assert any(p.startswith(f"{file}:9: ") and "'gamma'" in p for p in found)
    assert any(p.startswith(f"{file}:11: ") and "exactly one of" in p for p in found)
    assert any(p.startswith(f"{file}:11: ") and "needs 'handle_time'" in p for p in found)
    assert any(p.startswith(f"{file}:17: ") and "'count'" in p for p in found)
    assert any("skills.s" in p and "from 1 to 10" in p for p in found)
    assert any("'reject_probability'" in p for p in found)
    assert any("'end_seconds' must be after" in p for p in found)
    assert any("shift #2 of [[simulation.agents]] #1 needs 'end_seconds'" in p for p in found)


def test_a_file_that_is_not_a_workload(tmp_path: Path) -> None:
    assert problems(tmp_path, "[simulation\n")[0].startswith(
        f"{tmp_path / 'workload.toml'}:1: TOML syntax error"
    )
    assert "needs a [simulation] table" in " ".join(problems(tmp_path, "x = 1\n"))
    assert "needs [[simulation.arrivals]]" in " ".join(
        problems(tmp_path, "[simulation]\nduration_seconds = 10\n")
    )
    with pytest.raises(ConfigError, match="cannot read workload"):
        load_workload(tmp_path / "missing.toml")


def test_empirical_and_trace_files_are_checked(tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text("100\nlong\n", encoding="utf-8")
    (tmp_path / "trace.jsonl").write_text(
        '{"channel": "chat", "arrival_seconds": 5, "handle_seconds": 60}\n'
        "not json\n"
        '{"channel": "chat"}\n'
        '{"arrival_seconds": 1, "handle_seconds": 1}\n',
        encoding="utf-8",
    )
    found = problems(
        tmp_path,
        """[simulation]
duration_seconds = 100
[[simulation.arrivals]]
channel = "voice"
rate_per_hour = 1
handle_time = {distribution = "empirical", file = "bad.csv"}
[[simulation.replay]]
file = "trace.jsonl"
[[simulation.agents]]
count = 1
""",
    )
    text = "\n".join(found)
    assert "bad.csv:2: 'long' is not a duration in seconds" in text
    assert "trace.jsonl:2: not JSON" in text
    assert "trace.jsonl:3: needs 'arrival_seconds'" in text
    assert "trace.jsonl:4: channel" in text


def test_a_trace_reads_in_arrival_order(tmp_path: Path) -> None:
    (tmp_path / "trace.jsonl").write_text(
        '{"id": "late", "channel": "chat", "arrival_seconds": 50, "handle_seconds": 60}\n'
        "\n"
        '{"channel": "voice", "queue": "q", "arrival_seconds": 5, "patience_seconds": 9}\n',
        encoding="utf-8",
    )
    workload = load_workload(
        write(
            tmp_path,
            """[simulation]
duration_seconds = 100
[[simulation.replay]]
file = "trace.jsonl"
handle_time = {distribution = "constant", seconds = 30}
[[simulation.agents]]
count = 1
""",
        )
    )
    first, second = workload.replays[0].contacts
    assert (first.at, first.contact.id, first.handle, first.patience) == (5, "trace-3", None, 9)
    assert (second.contact.id, second.handle) == ("late", 60)
