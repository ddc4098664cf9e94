"""Instructions per simulated contact: the simulator's cost in a figure the machine's load
does not move.

Wall and CPU time on a shared 2-core machine scatter by up to 2x between runs; the number
of instructions a run executes does not. This runs the M/M/c model of
`benchmarks/simulate.py` (the same config, workload and seed) under valgrind's callgrind
twice, with few and with more contacts, and prints

    instructions per contact = (Ir(long) - Ir(short)) / (contacts(long) - contacts(short))

which leaves start-up (imports, config) out. Deterministic for a revision: use it to
compare revisions (A/B: `PYTHONPATH=OLD/src:OLD/plugins`), and `simulate.py` for speed.
With Ciw installed it counts Ciw the same way on the same model (per customer served),
so the two compare by instructions too. A compiled instruction is not an interpreted
one (the router's compiled code runs more of them per microsecond), so the ratio of
counts is not the ratio of speeds: `simulate.py` measures that.

Run:  .venv/bin/python benchmarks/sim_instructions.py [--agents 10,63] [--json]
      (needs valgrind; about 90 s per agent count)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from router.config import load_config_and_plugins
from router.sim.run import Simulation
from router.sim.workload import load_workload

_HERE = Path(__file__).resolve().parent
if str(_HERE) not in sys.path:
    sys.path.insert(0, str(_HERE))

import simulate  # noqa: E402 - needs the path above

SHORT, LONG = 500, 2500


def simulate_once(servers: int, contacts: int) -> int:
    with tempfile.TemporaryDirectory() as folder:
        config_path = Path(folder) / "router.toml"
        config_path.write_text(simulate.CONFIG, encoding="utf-8")
        workload_path = Path(folder) / "workload.toml"
        workload_path.write_text(simulate.workload_text(servers, contacts), encoding="utf-8")
        config, plugins = load_config_and_plugins(config_path)
        simulation = Simulation(config.engine, plugins, load_workload(workload_path), seed=1)
        return simulation.run().arrived


def ciw_once(servers: int, contacts: int) -> int:
    return simulate.ciw_run(servers, contacts, seed=1)[0]


def counted(servers: int, contacts: int, kind: str = "router") -> tuple[int, int]:
    """(contacts simulated, instructions executed) of one run under callgrind."""
    done = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            __file__,
            "--once",
            kind,
            str(servers),
            str(contacts),
        ],
        capture_output=True,
        text=True,
        check=True,
        # one hash seed for every run: set and dict orders (Ciw's especially) moved its
        # count by up to 15 % between identical runs
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    found = re.search(r"Collected\s*:\s*(\d+)", done.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count in callgrind's output: {done.stderr[-500:]}")
    return int(done.stdout.split()[-1]), int(found.group(1))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agents", default="10,63", help="agent counts (default 10,63)")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    parser.add_argument("--once", nargs=3, help=argparse.SUPPRESS)  # under valgrind
    args = parser.parse_args(argv)
    if args.once:
        kind, servers, contacts = args.once
        once = simulate_once if kind == "router" else ciw_once
        print(once(int(servers), int(contacts)))
        return
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install -y valgrind): nothing measured")
        return
    why_not = simulate.ciw_available()
    kinds = ["router"] if why_not else ["router", "ciw"]
    if why_not:
        print(f"ciw: skipped ({why_not})")
    figures = []
    for servers in (int(a) for a in args.agents.split(",")):
        for kind in kinds:
            short, long = counted(servers, SHORT, kind), counted(servers, LONG, kind)
            per_contact = (long[1] - short[1]) / (long[0] - short[0])
            figures.append(
                {"agents": servers, "kind": kind, "instructions_per_contact": round(per_contact)}
            )
            print(f"M/M/{servers} {kind}: {per_contact / 1e3:,.0f}k instructions per contact")
    if args.json:
        print(json.dumps({"benchmark": "sim_instructions", "figures": figures}))


if __name__ == "__main__":
    main()
