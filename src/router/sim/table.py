"""The report as text: what `router simulate` prints without `--json`."""

from __future__ import annotations

from collections.abc import Sequence

from router.sim.report import Report

QUEUE_HEADER = (
    "QUEUE",
    "OFFERED",
    "HANDLED",
    "ABANDONED",
    "SL",
    "SLA s",
    "ASA s",
    "AHT s",
    "LONGEST s",
)
INTERVAL_HEADER = (
    "FROM",
    "OFFERED",
    "HANDLED",
    "ABANDONED",
    "SL",
    "ASA s",
    "AHT s",
    "LONGEST s",
    "WAITING avg",
    "PEAK",
    "AGENTS",
    "OCC",
)


def columns(rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned first column, right-aligned others, two spaces apart."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def clock(seconds: float) -> str:
    """`13:45` (a `+1d` suffix past the first day)."""
    minutes = int(seconds // 60)
    days, minutes = divmod(minutes, 24 * 60)
    text = f"{minutes // 60:02d}:{minutes % 60:02d}"
    return text + (f" +{days}d" if days else "")


def percent(share: float) -> str:
    return f"{100 * share:.1f}%"


def render(report: Report, *, title: str = "") -> str:
    hours = report.duration_seconds / 3600
    head = (
        f"{title}simulated {hours:g} h (warm-up {report.warmup_seconds:g} s, seed {report.seed}): "
        f"{report.contacts:,} contacts in {report.wall_seconds:.1f} s "
        f"({report.contacts_per_second:,.0f} contacts/s)"
    )
    if report.rejected:
        head += f"; {report.rejected:,} rejected (no queue)"
    if report.unresolved:
        head += f"; {report.unresolved:,} still waiting at the end"
    rows = [QUEUE_HEADER] + [
        (
            name,
            f"{q.offered:,}",
            f"{q.handled:,}",
            f"{q.abandoned:,} ({percent(q.abandon_rate)})",
            percent(q.service_level),
            f"{q.sla_seconds:g}",
            f"{q.asa_seconds:.1f}",
            f"{q.aht_seconds:.1f}",
            f"{q.longest_wait_seconds:.0f}",
        )
        for name, q in report.queues.items()
    ]
    groups = [("AGENT GROUP", "AGENTS", "OCCUPANCY", "STAFFED h")] + [
        (name, f"{g['agents']:g}", percent(g["occupancy"]), f"{g['staffed_hours']:.1f}")
        for name, g in report.groups.items()
    ]
    groups.append(("all", "", percent(report.occupancy), ""))
    return "\n\n".join(
        (head, columns(rows), columns(groups), "per interval:\n" + intervals(report))
    )


def intervals(report: Report) -> str:
    rows: list[tuple[str, ...]] = [INTERVAL_HEADER]
    for item in report.intervals:
        queues = item["queues"].values()
        offered = sum(q["offered"] for q in queues)
        answered = sum(q["answered"] for q in queues)
        in_sla = sum(q["service_level"] * q["offered"] for q in queues)
        wait = sum(q["asa_seconds"] * q["answered"] for q in queues)
        handled = sum(q["handled"] for q in queues)
        handle = sum(q["aht_seconds"] * q["handled"] for q in queues)
        longest = max((q["longest_wait_seconds"] for q in queues), default=0.0)
        occupancy = item["occupancy"]
        mean_occupancy = sum(occupancy.values()) / len(occupancy) if occupancy else 0.0
        rows.append(
            (
                clock(item["start_seconds"]) + (" w" if item["warmup"] else ""),
                f"{offered:,}",
                f"{handled:,}",
                f"{sum(q['abandoned'] for q in queues):,}",
                percent(in_sla / offered) if offered else "-",
                f"{wait / answered:.1f}" if answered else "-",
                f"{handle / handled:.1f}" if handled else "-",
                f"{longest:.0f}",
                f"{item['waiting_average']:.1f}",
                f"{item['waiting_peak']}",
                f"{item['agents_staffed']:.1f}",
                percent(mean_occupancy),
            )
        )
    note = "(by arrival time; w: warm-up, not in the totals above; OCC: mean over agent groups)"
    return columns(rows) + "\n" + note
