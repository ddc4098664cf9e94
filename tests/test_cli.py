"""The `router` command: version, check-config and plugins (CONTRACT 1)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import router
from router.cli import main
from router.compiled import is_compiled
from router.plugins import BUILTIN_PLUGINS, builtin_name

ROOT = Path(__file__).parent.parent
EXAMPLE_SECRETS = (
    "ROUTER_ADMIN_TOKEN",
    "META_APP_SECRET",
    "META_VERIFY_TOKEN",
    "TWILIO_AUTH_TOKEN",
    "CHAT_SITE_TOKEN",
)

QUEUE = '[[queues]]\nname = "support"\nchannels = ["chat"]\n'


@pytest.fixture
def in_project(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run from the checkout, as the docs do, with none of the example's secrets set."""
    monkeypatch.chdir(ROOT)
    for name in EXAMPLE_SECRETS:
        monkeypatch.delenv(name, raising=False)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    status = main(list(argv))
    return status, capsys.readouterr().out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    build = "compiled" if is_compiled() else "plain Python"
    assert run(capsys, "version") == (0, f"router {router.__version__} ({build})\n")


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main([])
    assert caught.value.code == 2
    assert "usage: router" in capsys.readouterr().err


@pytest.mark.usefixtures("in_project")
def test_check_config_accepts_the_example(capsys: pytest.CaptureFixture[str]) -> None:
    status, out = run(capsys, "check-config", "config/router.toml")
    assert status == 0
    assert out.count("\n") == 1
    assert out.startswith(
        "config/router.toml: OK: 5 queues (support, sales, billing, complaints, overflow), "
    )
    assert re.search(r", \d+ plugins, http 127\.0\.0\.1:8080, store var/router\.db; ", out)
    assert out.rstrip().endswith("unset secrets: " + ", ".join(EXAMPLE_SECRETS))


@pytest.mark.usefixtures("in_project")
def test_check_config_with_every_secret_set(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in EXAMPLE_SECRETS:
        monkeypatch.setenv(name, "x")
    status, out = run(capsys, "check-config", "config/router.toml")
    assert status == 0
    assert "unset" not in out
    assert out.rstrip().endswith("store var/router.db")


def test_check_config_prints_every_problem(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        "[http]\nport = 0\n" + QUEUE + "min_level = 11\nsla_second = 3\n", encoding="utf-8"
    )
    status, out = run(capsys, "check-config", str(path))
    assert status == 2
    assert out.splitlines() == [
        f"{path}:2: 'port' in [http] must be between 1 and 65535, not 0",
        f"{path}:6: 'min_level' in [[queues]] #1 must be between 1 and 10, not 11",
        f"{path}:7: unknown key 'sla_second' in [[queues]] #1; did you mean 'sla_seconds'?",
    ]


def test_check_config_syntax_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(QUEUE + "[http\n", encoding="utf-8")
    status, out = run(capsys, "check-config", str(path))
    assert status == 2
    assert out.startswith(f"{path}:4: TOML syntax error: ")


def test_check_config_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    assert run(capsys, "check-config", str(path)) == (2, f"{path}: no such file\n")


def plugin_rows(out: str) -> dict[str, tuple[str, str]]:
    """`router plugins` output as name → (origin, hooks)."""
    lines = out.splitlines()
    assert lines[0].split() == ["PLUGIN", "ORIGIN", "HOOKS"]
    rows = {}
    for line in lines[1:]:
        name, rest = line.split(" ", 1)
        origin, hooks = re.split(r"\s{2,}", rest.strip(), maxsplit=1)
        rows[name] = (origin, hooks)
    return rows


def test_plugins_without_a_config_lists_the_builtins(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no config/router.toml here: built-in defaults
    status, out = run(capsys, "plugins")
    assert status == 0
    rows = plugin_rows(out)
    for module in BUILTIN_PLUGINS:
        assert rows[builtin_name(module)][0] == "built-in"
    assert rows["vip"][1] == "router_configure, router_plugin_options, router_priority_terms"
    assert rows["best_score"][1] == "router_select_agent"


@pytest.mark.usefixtures("in_project")
def test_plugins_reads_the_default_config(capsys: pytest.CaptureFixture[str]) -> None:
    status, out = run(capsys, "plugins")
    assert status == 0
    assert "round_robin" in plugin_rows(out)


GREETER = """
from router import hookimpl


@hookimpl
def router_event(event):
    pass
"""


def test_plugins_lists_a_path_plugin(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    folder = tmp_path / "local_plugins"
    folder.mkdir()
    (folder / "greeter.py").write_text(GREETER, encoding="utf-8")
    config = tmp_path / "router.toml"
    config.write_text(
        QUEUE + '[plugins]\npaths = ["local_plugins"]\ndisable = ["sticky"]\n', encoding="utf-8"
    )
    status, out = run(capsys, "plugins", "--config", str(config))
    assert status == 0
    rows = plugin_rows(out)
    assert rows["greeter"] == (f"path: {folder / 'greeter.py'}", "router_event")
    assert "sticky" not in rows


def test_plugins_with_a_broken_config(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    config = tmp_path / "router.toml"
    config.write_text(QUEUE + "[plugins.nosuch]\nx = 1\n", encoding="utf-8")
    status, out = run(capsys, "plugins", "--config", str(config))
    assert status == 2
    assert out == f"{config}:4: unknown plugin 'nosuch' in [plugins.nosuch]\n"


def test_installed_script(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "router"
    if not script.exists():
        found = shutil.which("router")
        assert found, "the `router` console script is not installed (pip install -e .)"
        script = Path(found)
    env = {"PATH": str(script.parent), "HOME": str(tmp_path)}  # none of the secrets
    version = subprocess.run(
        [str(script), "version"], capture_output=True, text=True, check=False, env=env
    )
    build = "compiled" if is_compiled() else "plain Python"
    assert (version.returncode, version.stdout) == (0, f"router {router.__version__} ({build})\n")
    checked = subprocess.run(
        [str(script), "check-config", "config/router.toml"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env=env,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.startswith("config/router.toml: OK: 5 queues")
    bad = tmp_path / "bad.toml"
    bad.write_text("[http]\nport = 'x'\n", encoding="utf-8")
    failed = subprocess.run(
        [str(script), "check-config", str(bad)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert failed.returncode == 2
    assert failed.stdout.splitlines() == [
        f"{bad}: no queues: add at least one [[queues]] table",
        f"{bad}:2: 'port' in [http] must be an integer, not a string",
    ]


@pytest.mark.parametrize(
    ("source", "complaint"),
    [
        (  # an argument the hook does not have
            "@hookimpl\ndef router_select_queue(contact, queuez):\n    return None\n",
            "queuez",
        ),
        (  # a misspelt hook name: check_pending() catches it
            "@hookimpl\ndef router_selct_queue(contact, queues):\n    return None\n",
            "router_selct_queue",
        ),
    ],
)
def test_check_config_reports_a_broken_plugin_on_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, source: str, complaint: str
) -> None:
    folder = tmp_path / "local"
    folder.mkdir()
    (folder / "broken.py").write_text("from router import hookimpl\n\n" + source)
    config = tmp_path / "router.toml"
    config.write_text(
        '[plugins]\npaths = ["local"]\n\n[[queues]]\nname = "a"\nchannels = ["chat"]\n'
    )
    assert main(["check-config", str(config)]) == 2
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"{config}:")
    assert complaint in lines[0]


def test_plugins_piped_into_a_closed_reader_exits_quietly() -> None:
    # The read end is closed before the child has even imported the router, so its
    # first write meets a broken pipe every time (`router plugins | head -1`).
    router_script = shutil.which("router") or str(Path(sys.executable).parent / "router")
    child = subprocess.Popen(
        [router_script, "plugins"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert child.stdout is not None
    child.stdout.close()
    _, stderr = child.communicate(timeout=60)
    assert child.returncode == 0
    assert b"Traceback" not in stderr
