"""`--plot FILE.png`: the day drawn per interval — service level per queue,
contacts waiting, agent occupancy per group. Needs matplotlib (the `plot`
extra); without it `PlotUnavailable` says how to install it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from router.sim.report import Report


class PlotUnavailable(Exception):
    """matplotlib is not installed."""


def pyplot() -> Any:
    """matplotlib.pyplot on the file-only Agg backend, or `PlotUnavailable`."""
    try:
        import matplotlib  # noqa: PLC0415 - optional: only `--plot` needs it

        matplotlib.use("Agg")  # files only, no display needed
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        raise PlotUnavailable("--plot needs matplotlib: pip install 'omnirouter[plot]'") from None
    return plt


def plot(reports: list[tuple[str, Report]], path: Path) -> None:
    """One figure, three panels sharing the time axis; one line style per report."""
    plt = pyplot()
    figure, (sl, waiting, occupancy) = plt.subplots(3, 1, figsize=(11, 9), sharex=True)
    styles = ("-", "--")
    for (label, report), style in zip(reports, styles, strict=False):
        hours = [i["start_seconds"] / 3600 for i in report.intervals]
        prefix = f"{label}: " if len(reports) > 1 else ""
        for name in report.queues:
            values = [_share(i["queues"].get(name)) for i in report.intervals]
            sl.step(hours, values, style, where="post", label=f"{prefix}{name}")
        waiting.step(
            hours,
            [i["waiting_average"] for i in report.intervals],
            style,
            where="post",
            label=f"{prefix}average",
        )
        waiting.step(
            hours,
            [i["waiting_peak"] for i in report.intervals],
            style,
            where="post",
            alpha=0.4,
            label=f"{prefix}peak",
        )
        for group in report.groups:
            values = [i["occupancy"].get(group, 0.0) * 100 for i in report.intervals]
            occupancy.step(hours, values, style, where="post", label=f"{prefix}{group}")
    sl.set_ylabel("service level %")
    sl.set_ylim(0, 105)
    waiting.set_ylabel("contacts waiting")
    occupancy.set_ylabel("occupancy %")
    occupancy.set_ylim(0, 105)
    occupancy.set_xlabel("hours from the start")
    for axes in (sl, waiting, occupancy):
        axes.grid(alpha=0.3)
        axes.legend(fontsize="small", loc="best")
    sl.set_title("router simulate: the day per interval")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _share(queue: dict[str, Any] | None) -> float:
    if not queue or not queue["offered"]:
        return float("nan")  # nothing offered: a gap, not a 0 %
    return float(queue["service_level"]) * 100
