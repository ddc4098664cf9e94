"""`router run` refuses to start, with a clear message and exit 2, when it should not run."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


def run(config: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "router.cli", "run", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=config.parent,
        env={**os.environ, **env},
        check=False,
    )


def example(tmp_path: Path, *replacements: tuple[str, str]) -> Path:
    text = (ROOT / "config" / "router.toml").read_text()
    text = text.replace('url = "mqtt://127.0.0.1:1883"', "# no url: MQTT off", 1)
    for old, new in replacements:
        assert old in text
        text = text.replace(old, new, 1)
    path = tmp_path / "router.toml"
    path.write_text(text)
    return path


def test_an_invalid_config_is_exit_2_with_file_and_line(tmp_path: Path) -> None:
    config = example(tmp_path, ("sla_seconds = 20", "sla_seconds = -1"))
    result = run(config)
    assert result.returncode == 2
    assert f"{config}:" in result.stdout
    assert "sla_seconds" in result.stdout


def test_no_public_address_without_an_admin_token(tmp_path: Path) -> None:
    config = example(tmp_path, ('host = "127.0.0.1"', 'host = "0.0.0.0"'))
    env = {k: v for k, v in os.environ.items() if k != "ROUTER_ADMIN_TOKEN"}
    result = subprocess.run(
        [sys.executable, "-m", "router.cli", "run", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    assert result.returncode == 2
    assert "refusing to listen on 0.0.0.0" in result.stderr
    assert "admin_token" in result.stderr


def test_a_taken_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = example(tmp_path, ("port = 8080", f"port = {port}"))
        result = run(config, ROUTER_ADMIN_TOKEN="x")
    assert result.returncode == 2
    assert "cannot listen" in result.stderr
