"""The pages' cost benchmark runs on a tiny team (figures go in RESULTS.md, never asserts)."""

from __future__ import annotations

import asyncio

import pytest
from bench_scripts import benchmark_script


def test_the_web_fanout_benchmark_prints_its_figures(capsys: pytest.CaptureFixture[str]) -> None:
    with benchmark_script("web_fanout") as module:
        asyncio.run(module.measure(20))
    out = capsys.readouterr().out
    for figure in ("listener, no page open", "agent snapshot", "wallboard tick"):
        assert figure in out
