"""`router simulate`: load the configs and the workload, run, print, plot.

Exit 0 after a run; 2 when a config or the workload is wrong (every problem
printed as `FILE:LINE: message`, as `router check-config` does) or `--plot`
cannot be drawn. With `--json` the last line of stdout is the report (CONTRACT
5); the readable table comes before it. The progress bar goes to stderr, and
only when stderr is a terminal.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import orjson

from router.config import ConfigError, load_config_and_plugins
from router.plugins import PluginLoadError
from router.sim import compare, table
from router.sim.report import Report, build
from router.sim.run import Simulation
from router.sim.workload import load_workload
from router.sim.workload_types import Workload

EXIT_OK = 0
EXIT_INVALID = 2


@dataclass(frozen=True, slots=True)
class Options:
    configs: tuple[Path, ...]
    workload: Path
    json: bool = False
    seed: int | None = None
    plot: Path | None = None


def simulate(options: Options) -> int:
    if not 1 <= len(options.configs) <= 2:
        print("router simulate: give one --config, or two to compare them", file=sys.stderr)
        return EXIT_INVALID
    problems: list[str] = []
    loaded = []
    for path in options.configs:
        try:
            loaded.append(load_config_and_plugins(path))
        except ConfigError as exc:
            problems += [str(p) for p in exc.problems]
        except PluginLoadError as exc:
            problems.append(f"{path}: cannot load plugins: {exc}")
    workload: Workload | None = None
    try:
        workload = load_workload(options.workload)
    except ConfigError as exc:
        problems += [str(p) for p in exc.problems]
    if problems or workload is None:
        print("\n".join(problems))
        return EXIT_INVALID
    if options.plot is not None and (missing := _plot_missing()):
        print(f"router simulate: {missing}", file=sys.stderr)  # before a long run, not after
        return EXIT_INVALID
    reports: list[Report] = []
    for index, (config, plugins) in enumerate(loaded):
        label = f"{config.source} ({index + 1}/{len(loaded)})"
        with _progress(workload.duration, label) as progress:
            outcome = Simulation(
                config.engine, plugins, workload, seed=options.seed, progress=progress
            ).run()
        reports.append(build(outcome))
    names = tuple(str(p) for p in options.configs)
    if len(reports) == 1:
        print(table.render(reports[0], title=f"{names[0]} on {options.workload}: "))
        document = reports[0].to_json()
    else:
        for name, report in zip(names, reports, strict=True):
            print(table.render(report, title=f"{name} on {options.workload}: "))
            print()
        pair = (names[0], names[1])
        print(compare.render(reports[0], reports[1], pair))
        document = compare.to_json(reports[0], reports[1], pair)
    if options.plot is not None:
        status = _plot(list(zip(names, reports, strict=True)), options.plot)
        if status:
            return status
    if options.json:
        sys.stdout.flush()
        print(orjson.dumps(document).decode())
    return EXIT_OK


def _plot(reports: list[tuple[str, Report]], path: Path) -> int:
    from router.sim.plot import PlotUnavailable, plot  # noqa: PLC0415 - matplotlib is optional

    try:
        plot(reports, path)
    except PlotUnavailable as exc:
        print(f"router simulate: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except OSError as exc:
        print(f"router simulate: cannot write {path}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_INVALID
    print(f"plot written to {path}", file=sys.stderr)
    return EXIT_OK


def _plot_missing() -> str | None:
    from router.sim.plot import PlotUnavailable, pyplot  # noqa: PLC0415 - matplotlib is optional

    try:
        pyplot()
    except PlotUnavailable as exc:
        return str(exc)
    return None


@contextmanager
def _progress(total: float, label: str) -> Iterator[Callable[[float], None] | None]:
    """A rich progress bar on stderr when it is a terminal; None (no callback) otherwise."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console  # noqa: PLC0415 - only for a terminal
    from rich.progress import Progress  # noqa: PLC0415

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(f"simulating {label}", total=total)

        def advance(at: float) -> None:
            bar.update(task, completed=min(at, total))

        yield advance
