"""Every benchmark, one after the other: the one command of issue 6.

Runs each script of this folder in a fresh interpreter of its own (they measure
the garbage collector, start daemons and brokers, and must not share a heap), in
this order: decision_cost, restart, durability, e2e, memory, simulate, web_fanout.
Each one's output is printed as it comes; `--quick` and `--json` are passed on. With
`--json` the runner ends with one JSON document holding every script's own JSON
(`{"benchmarks": {NAME: {...}}}`), also written to `--out FILE` when given.

Run:  .venv/bin/python benchmarks/run.py [--quick] [--json] [--out FILE] [--only NAME,...]

`--smoke` runs only the scripts that have a tiny mode (decision_cost, memory, simulate),
in it: a check of the runner and the scripts, in seconds, for the test suite. A script
that fails is reported and the others still run; the exit code is then 1. Prints
figures, never asserts; on a shared machine, note the load average printed with each.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
#: every benchmark, in the order they run
BENCHMARKS = ("decision_cost", "restart", "durability", "e2e", "memory", "simulate", "web_fanout")
#: the scripts with a `--smoke` mode
SMOKE = ("decision_cost", "memory", "simulate")


@dataclass(slots=True)
class Outcome:
    name: str
    returncode: int
    seconds: float
    load_before: float
    #: the script's own JSON document (its last line of output), with `--json`
    figures: dict[str, Any] | None


def run_one(name: str, flags: Sequence[str]) -> Outcome:
    """`benchmarks/NAME.py FLAGS`, its output echoed line by line as it comes."""
    command = [sys.executable, str(HERE / f"{name}.py"), *flags]
    print(f"\n=== {name}: {' '.join(command[1:])}", flush=True)
    load, started = os.getloadavg()[0], time.perf_counter()
    last = ""
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        for line in process.stdout:
            print(line, end="", flush=True)
            if line.strip():
                last = line
        returncode = process.wait()
    figures = None
    if "--json" in flags and returncode == 0:
        try:
            figures = json.loads(last)
        except json.JSONDecodeError:
            print(f"=== {name}: its last line is not JSON", flush=True)
    return Outcome(name, returncode, time.perf_counter() - started, load, figures)


def chosen(only: str | None, smoke: bool) -> list[str]:
    names = [n.strip() for n in only.split(",") if n.strip()] if only else list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        raise SystemExit(f"run.py: unknown benchmark {', '.join(unknown)}; one of {BENCHMARKS}")
    return [n for n in names if n in SMOKE] if smoke else names


def combined(outcomes: Sequence[Outcome], mode: str) -> dict[str, Any]:
    return {
        "benchmark": "all",
        "mode": mode,
        "benchmarks": {o.name: o.figures for o in outcomes},
        "runs": [
            {
                "name": o.name,
                "returncode": o.returncode,
                "seconds": o.seconds,
                "load_1min_before": o.load_before,
            }
            for o in outcomes
        ],
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="every script's --quick")
    size.add_argument("--smoke", action="store_true", help="the tiny runs, for the tests")
    parser.add_argument("--json", action="store_true", help="end with one combined JSON line")
    parser.add_argument("--out", type=Path, help="also write the combined JSON to this file")
    parser.add_argument("--only", help=f"comma-separated, of {','.join(BENCHMARKS)}")
    args = parser.parse_args(argv)
    mode = "quick" if args.quick else "smoke" if args.smoke else "full"
    flags = [f"--{mode}"] if mode != "full" else []
    if args.json or args.out:
        flags.append("--json")
    outcomes = [run_one(name, flags) for name in chosen(args.only, args.smoke)]
    print("\n=== summary", flush=True)
    for o in outcomes:
        status = "ok" if o.returncode == 0 else f"FAILED (exit {o.returncode})"
        print(f"  {o.name:<14} {status:<16} {o.seconds:7.1f} s   load before {o.load_before:.2f}")
    if args.json or args.out:
        document = json.dumps(combined(outcomes, mode))
        if args.out:
            args.out.write_text(document + "\n")
        if args.json:
            print(document)
    return 0 if all(o.returncode == 0 for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
