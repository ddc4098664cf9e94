"""Two configs on one workload, side by side (`router simulate --config A --config B`).

Both runs use the same seed, so the same contacts arrive at the same times with
the same handle times and patience (common random numbers): the differences
come from the configs, not from luck.
"""

from __future__ import annotations

from typing import Any

from router.sim.report import Report
from router.sim.table import columns, percent

#: per-queue figures compared, with how to show them
FIGURES = (
    ("offered", "{:,.0f}"),
    ("handled", "{:,.0f}"),
    ("abandoned", "{:,.0f}"),
    ("service_level", "pct"),
    ("asa_seconds", "{:.1f}"),
    ("aht_seconds", "{:.1f}"),
    ("longest_wait_seconds", "{:.0f}"),
)


def difference(first: Report, second: Report) -> dict[str, Any]:
    """second - first, per queue figure and for occupancy."""
    queues: dict[str, dict[str, float]] = {}
    for name in dict.fromkeys([*first.queues, *second.queues]):
        a = first.queues[name].to_json() if name in first.queues else {}
        b = second.queues[name].to_json() if name in second.queues else {}
        queues[name] = {key: b.get(key, 0) - a.get(key, 0) for key, _ in FIGURES}
    return {"queues": queues, "agents": {"occupancy": second.occupancy - first.occupancy}}


def to_json(first: Report, second: Report, names: tuple[str, str]) -> dict[str, Any]:
    """The first config's report (CONTRACT keys on top), both runs, and the differences."""
    return {
        **first.to_json(),
        "configs": list(names),
        "runs": [first.to_json(), second.to_json()],
        "difference": difference(first, second),
    }


def _show(value: float, style: str) -> str:
    return percent(value) if style == "pct" else style.format(value)


def render(first: Report, second: Report, names: tuple[str, str]) -> str:
    rows = [("QUEUE / FIGURE", "A", "B", "B - A")]
    diff = difference(first, second)["queues"]
    for name in diff:
        a = first.queues[name].to_json() if name in first.queues else {}
        b = second.queues[name].to_json() if name in second.queues else {}
        for key, style in FIGURES:
            delta = diff[name][key]
            shown = ("+" if delta > 0 else "") + (
                f"{100 * delta:.1f} pt" if style == "pct" else style.format(delta)
            )
            rows.append(
                (f"{name} {key}", _show(a.get(key, 0), style), _show(b.get(key, 0), style), shown)
            )
    delta = second.occupancy - first.occupancy
    rows.append(
        (
            "agents occupancy",
            percent(first.occupancy),
            percent(second.occupancy),
            f"{100 * delta:+.1f} pt",
        )
    )
    return f"A: {names[0]}\nB: {names[1]}\nsame workload and seed ({first.seed})\n\n" + columns(
        rows
    )
