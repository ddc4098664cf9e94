"""A `router run` subprocess for the browser tests, and a small blocking API client.

The pages are tested against the real command, so that what a user installs
(package data, routes, the stream, the drain with pages open) is what runs.
No MQTT broker: the `[mqtt] url` line is left out of the config, which turns
the bridge off.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

# One set of test secrets and ports for every test that starts `router run`: the
# integration tests' (their folder is put on the path by this folder's conftest).
from servers import ADMIN, ROOT, SECRETS, free_port


def write_config(folder: Path, http_port: int, smtp_port: int) -> Path:
    text = (ROOT / "config" / "router.toml").read_text()
    replaced = {
        "port = 8080": f"port = {http_port}",
        "port = 2525": f"port = {smtp_port}",
        'url = "mqtt://127.0.0.1:1883"': "# no broker in the browser tests",
        'path = "var/router.db"': f'path = "{folder / "var" / "router.db"}"',
    }
    for old, new in replaced.items():
        assert old in text, f"config/router.toml no longer has {old!r}"
        text = text.replace(old, new, 1)
    config = folder / "router.toml"
    config.write_text(text)
    return config


class Daemon:
    def __init__(self, folder: Path) -> None:
        self.http_port = free_port()
        self.base = f"http://127.0.0.1:{self.http_port}"
        config = write_config(folder, self.http_port, free_port())
        self.log_path = folder / "daemon.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "router.cli", "run", "--config", str(config)],
                cwd=folder,
                env={**os.environ, **SECRETS},
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"router run exited at start:\n{self.log()}")
            try:
                status, body = self.call("GET", "/healthz", token=None)
            except OSError:
                time.sleep(0.05)
                continue
            if status == 200 and body["parts"].get("engine") == "ok":
                return
            time.sleep(0.05)
        raise RuntimeError(f"router run did not get ready:\n{self.log()}")

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, as a service manager stops it; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise
        return self.process.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def call(
        self, method: str, path: str, body: Any = None, *, token: str | None = ADMIN
    ) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def agent(self, agent_id: str, **profile: Any) -> str:
        status, body = self.call("PUT", f"/v1/agents/{agent_id}", profile)
        assert status == 200, body
        token: str = body["token"]
        return token

    def contact(self, **contact: Any) -> dict[str, Any]:
        status, body = self.call("POST", "/v1/contacts", contact)
        assert status == 202, body
        result: dict[str, Any] = body
        return result
