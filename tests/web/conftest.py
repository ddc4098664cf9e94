"""The page stream over real HTTP: the runtime tests' in-process router (tests/runtime)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

_RUNTIME = str(Path(__file__).resolve().parents[1] / "runtime")
if _RUNTIME not in sys.path:
    sys.path.insert(0, _RUNTIME)

from inprocess import Server, serve_in_process  # noqa: E402 - needs the path above


@pytest_asyncio.fixture
async def server() -> AsyncIterator[Server]:
    async for running in serve_in_process():
        yield running
