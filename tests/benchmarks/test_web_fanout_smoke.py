"""The pages' cost benchmark runs on a tiny team (figures go in RESULTS.md, never asserts)."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "web_fanout.py"


def test_the_web_fanout_benchmark_prints_its_figures(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("web_fanout", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    asyncio.run(module.measure(20))
    out = capsys.readouterr().out
    for figure in ("listener, no page open", "agent snapshot", "wallboard tick"):
        assert figure in out
