"""Fixtures for tests against real servers: a fresh Mosquitto per test.

`servers.py` sits beside this file. Under `--import-mode=importlib` pytest
puts no test folder on `sys.path`, so this conftest adds its own folder.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from servers import Mosquitto  # noqa: E402 - needs the path above


@pytest.fixture
def mosquitto() -> Iterator[Mosquitto]:
    """A broker on a free port from config/mosquitto.conf; `stop()`/`start()` restart it."""
    server = Mosquitto()
    server.start()
    try:
        yield server
    finally:
        # shown by pytest only when the test failed: what the broker saw
        print(f"--- mosquitto log ({server.log_path}) ---\n{server.log_tail()}")
        server.close()
