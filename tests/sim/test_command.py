"""`router simulate` from the command line (CONTRACT 1 and 5)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from sim_helpers import config_file, mmc_workload

from router.cli import main

ROOT = Path(__file__).resolve().parents[2]
CONTRACT_QUEUE_KEYS = {
    "offered",
    "handled",
    "abandoned",
    "service_level",
    "asa_seconds",
    "sla_seconds",
}


def last_json_line(out: str) -> dict[str, object]:
    data = json.loads(out.rstrip("\n").splitlines()[-1])
    assert isinstance(data, dict)
    return data


def test_json_is_the_last_line_with_the_contract_keys(tmp_path: Path) -> None:
    config = config_file(tmp_path)
    workload = mmc_workload(tmp_path, agents=3, rate_per_hour=60, patience=120, hours=2)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "router.cli",
            "simulate",
            "--config",
            str(config),
            "--workload",
            str(workload),
            "--json",
            "--seed",
            "7",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "QUEUE" in done.stdout  # the readable table comes first
    data = last_json_line(done.stdout)
    assert {"queues", "agents", "contacts_per_second_simulated"} <= data.keys()
    queue = data["queues"]["q"]  # type: ignore[index]
    assert queue.keys() >= CONTRACT_QUEUE_KEYS
    assert queue["sla_seconds"] == 20
    assert 0 <= queue["service_level"] <= 1
    assert 0 < data["agents"]["occupancy"] <= 1  # type: ignore[index]
    assert data["contacts_per_second_simulated"] > 0  # type: ignore[operator]
    assert data["seed"] == 7
    assert "\x1b[" not in done.stdout  # no progress bar on stdout (and none off a terminal)


def test_two_configs_run_side_by_side(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = config_file(tmp_path, name="a.toml")
    b = config_file(tmp_path, wrapup=60, name="b.toml")
    workload = mmc_workload(tmp_path, agents=4, rate_per_hour=60, patience=90, hours=2)
    status = main(
        ["simulate", "--config", str(a), "--config", str(b), "--workload", str(workload), "--json"]
    )
    assert status == 0
    out = capsys.readouterr().out
    assert f"A: {a}" in out
    assert "B - A" in out
    data = last_json_line(out)
    first, second = data["runs"]  # type: ignore[misc]
    assert data["queues"] == first["queues"]
    assert first["contacts"] == second["contacts"]  # the same arrivals
    assert first["queues"]["q"]["offered"] == second["queues"]["q"]["offered"]
    diff = data["difference"]["queues"]["q"]  # type: ignore[index]
    assert diff["aht_seconds"] > 30  # 60 s of wrap-up (over different survivors of patience)
    assert data["difference"]["agents"]["occupancy"] > 0  # type: ignore[index]


def test_a_bad_workload_exits_2_with_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    workload = tmp_path / "bad.toml"
    workload.write_text(
        "[simulation]\nduration_seconds = -5\n[[simulation.agents]]\ncount = 1\n", encoding="utf-8"
    )
    status = main(["simulate", "--config", str(config_file(tmp_path)), "--workload", str(workload)])
    assert status == 2
    out = capsys.readouterr().out
    assert f"{workload}:2: 'duration_seconds' in [simulation] must be more than 0" in out
    assert "Traceback" not in out


def test_a_missing_workload_and_a_bad_config_are_both_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "router.toml"
    config.write_text("[[queues]]\nname = 3\n", encoding="utf-8")
    status = main(["simulate", "--config", str(config), "--workload", str(tmp_path / "none.toml")])
    assert status == 2
    out = capsys.readouterr().out
    assert f"{config}:2:" in out
    assert f"{tmp_path / 'none.toml'}: cannot read workload" in out


def test_plot_writes_a_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    png = tmp_path / "day.png"
    workload = mmc_workload(tmp_path, agents=3, rate_per_hour=60, hours=2)
    status = main(
        [
            "simulate",
            "--config",
            str(config_file(tmp_path)),
            "--workload",
            str(workload),
            "--plot",
            str(png),
        ]
    )
    assert status == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 10_000
    assert f"plot written to {png}" in capsys.readouterr().err


def test_plot_without_matplotlib_says_how_to_get_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now fails
    workload = mmc_workload(tmp_path, agents=3, rate_per_hour=60, hours=1)
    status = main(
        [
            "simulate",
            "--config",
            str(config_file(tmp_path)),
            "--workload",
            str(workload),
            "--plot",
            str(tmp_path / "x.png"),
        ]
    )
    assert status == 2
    assert "pip install 'omnirouter[plot]'" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_the_example_workload_runs_on_the_example_config(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = main(
        [
            "simulate",
            "--config",
            str(ROOT / "config/router.toml"),
            "--workload",
            str(ROOT / "config/workload.toml"),
            "--json",
        ]
    )
    assert status == 0
    data = last_json_line(capsys.readouterr().out)
    queues = data["queues"]
    assert {"support", "sales", "billing"} <= queues.keys()  # type: ignore[union-attr]
    for figures in queues.values():  # type: ignore[union-attr]
        assert figures["offered"] > 0
        assert 0 < figures["service_level"] <= 1
    groups = data["agents"]["groups"]  # type: ignore[index]
    assert all(0 < g["occupancy"] <= 1 for g in groups.values())
    assert len(data["intervals"]) == 96  # type: ignore[arg-type]


def test_more_than_two_configs_or_a_bad_seed_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(config_file(tmp_path))
    workload = str(mmc_workload(tmp_path, agents=1, rate_per_hour=1, hours=1))
    args = ["simulate", "--config", config, "--config", config, "--config", config]
    assert main([*args, "--workload", workload]) == 2
    assert "give one --config, or two" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        main(["simulate", "--config", config, "--workload", workload, "--seed", "-1"])
    assert exited.value.code == 2
    assert "not a seed" in capsys.readouterr().err


def test_a_progress_bar_only_on_a_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from router.sim import command, run

    monkeypatch.setattr(run, "PROGRESS_EVERY", 8)
    seen: list[float] = []
    original = command._progress

    def spy(total: float, label: str):  # type: ignore[no-untyped-def]
        with original(total, label) as callback:
            assert callback is not None
            yield lambda at: (seen.append(at), callback(at))

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    monkeypatch.setattr(command, "_progress", contextlib.contextmanager(spy))
    workload = mmc_workload(tmp_path, agents=3, rate_per_hour=40, hours=2)
    assert (
        main(
            [
                "simulate",
                "--config",
                str(config_file(tmp_path)),
                "--workload",
                str(workload),
                "--json",
            ]
        )
        == 0
    )
    assert seen
    assert seen == sorted(seen)
    assert seen[-1] == 7200
    out = capsys.readouterr().out
    json.loads(out.splitlines()[-1])  # the bar went to stderr, stdout ends with the report
    assert "simulating" not in out
