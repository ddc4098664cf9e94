"""Real servers for integration tests, started on free ports.

`Mosquitto` runs the broker from the deployment config itself
(`config/mosquitto.conf`), rewriting only the listener port, the persistence
location and the log destination, so the tests exercise the settings we ship
(persistence, queue sizes, in-flight window). `stop()` then `start()` is a
broker restart: same port, same persistence directory, sessions kept.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MOSQUITTO_CONF = ROOT / "config" / "mosquitto.conf"
MOSQUITTO_BIN = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


#: the admin token of every `router run` these tests start
ADMIN = "admin-integration"
#: the environment the example config's `env:` secrets read
SECRETS = {
    "ROUTER_ADMIN_TOKEN": ADMIN,
    "META_APP_SECRET": "meta-app-secret",
    "META_VERIFY_TOKEN": "meta-verify",
    "TWILIO_AUTH_TOKEN": "twilio-auth",
    "CHAT_SITE_TOKEN": "chat-site",
}


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class Mosquitto:
    """One broker process; `start()` and `stop()` may be called again (a restart)."""

    host = "127.0.0.1"

    def __init__(self, config: Path = MOSQUITTO_CONF, *, port: int | None = None) -> None:
        self.port = port or free_port(self.host)
        # Not under pytest's tmp_path: as root, mosquitto drops to its own user,
        # which cannot enter root's private pytest folder. A folder of its own,
        # given to that user, works both as root and as anyone else.
        self.workdir = Path(tempfile.mkdtemp(prefix="mosquitto-"))
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam("mosquitto")
            except KeyError:
                pass
            else:
                os.chown(self.workdir, user.pw_uid, user.pw_gid)
        self.config_path = self.workdir / "mosquitto.conf"
        self.log_path = self.workdir / "mosquitto.log"
        self.config_path.write_text(self._rewrite(config.read_text()))
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _rewrite(self, text: str) -> str:
        replacements = {
            "listener": f"listener {self.port} {self.host}",
            "persistence_location": f"persistence_location {self.workdir}/",
            "log_dest": f"log_dest file {self.log_path}",
        }
        for key, line in replacements.items():
            text, count = re.subn(rf"(?m)^{key}\s.*$", line, text)
            assert count == 1, f"config/mosquitto.conf must have exactly one {key!r} line"
        return text

    def start(self, timeout: float = 10.0) -> None:
        assert not self.running, "mosquitto is already running"
        self._process = subprocess.Popen(
            [MOSQUITTO_BIN, "-c", str(self.config_path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"mosquitto exited at start:\n{self.log_tail()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"mosquitto did not listen on port {self.port}:\n{self.log_tail()}")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM: mosquitto saves its database and exits, as in a service restart."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def pause(self) -> None:
        """SIGSTOP: the broker still accepts bytes in its socket buffers, answers nothing."""
        assert self._process is not None
        self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGCONT)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])
