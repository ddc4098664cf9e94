"""Fixtures of the runtime tests; the helpers live in `inprocess.py` beside this file."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from inprocess import Server, serve_in_process  # noqa: E402 - needs the path above


@pytest_asyncio.fixture
async def server() -> AsyncIterator[Server]:
    async for running in serve_in_process():
        yield running
