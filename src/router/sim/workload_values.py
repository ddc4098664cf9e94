"""Readers for the values inside a workload table: distributions, rate profiles,
skill and capacity levels, shifts and the contact template.

Each collects its problems on the table's reader (`FILE:LINE: message`) and
returns a usable default, so that one run reports every problem at once.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from router.config_reader import Table
from router.contact_json import contact_from_json
from router.model import Contact, ModelError
from router.sim.arrivals import RateProfile
from router.sim.distributions import Constant, Distribution, Empirical, Exponential, Lognormal

DISTRIBUTIONS = ("exponential", "lognormal", "constant", "empirical")
_KEYS = {
    "exponential": ("distribution", "mean_seconds"),
    "lognormal": ("distribution", "mean_seconds", "sd_seconds"),
    "constant": ("distribution", "seconds", "mean_seconds"),
    "empirical": ("distribution", "file", "column"),
}
HOUR = 3600.0


def read_distribution(parent: Table, key: str, folder: Path) -> Distribution | None:
    """`{distribution = "exponential", mean_seconds = 180}` and the like; None when absent."""
    table = parent.subtable(key, f"{key!r} of {parent.label}")
    if table is None:
        return None
    kind = table.data.get("distribution")
    if kind not in DISTRIBUTIONS:
        table.fail(
            "distribution",
            f"{key!r} of {parent.label} needs 'distribution', one of {', '.join(DISTRIBUTIONS)}"
            + (f"; not {kind!r}" if kind is not None else ""),
        )
        return None
    table.check_keys(_KEYS[kind])
    if kind == "exponential":
        return Exponential(_positive(table, "mean_seconds"))
    if kind == "lognormal":
        return Lognormal(_positive(table, "mean_seconds"), _positive(table, "sd_seconds"))
    if kind == "constant":
        name = "seconds" if "seconds" in table.data else "mean_seconds"
        return Constant(table.non_negative(name, 0.0))
    return _read_empirical(table, folder)


def _positive(table: Table, key: str) -> float:
    if key not in table.data:
        table.fail(key, f"{table.label} needs {key!r}")
        return 1.0
    return table.number(key, 1.0, above=0)


def _read_empirical(table: Table, folder: Path) -> Distribution | None:
    name = table.text("file", "")
    if not name:
        return None
    column = table.data.get("column")
    path = folder / name
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = [row for row in csv.reader(handle) if row and any(cell.strip() for cell in row)]
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        table.fail("file", f"cannot read {path}: {reason}")
        return None
    index, first = 0, 1
    has_header = bool(rows) and not _is_number(rows[0][0].strip())
    if column is not None:
        header = [cell.strip() for cell in rows[0]] if has_header else []
        if column not in header:
            table.fail("column", f"{path} has no column {column!r} in its header {header}")
            return None
        index = header.index(column)
    if has_header:
        rows, first = rows[1:], 2
    values: list[float] = []
    for number, row in enumerate(rows, start=first):
        cell = row[index].strip() if index < len(row) else ""
        if not _is_number(cell) or float(cell) < 0 or not math.isfinite(float(cell)):
            table.fail("file", f"{path}:{number}: {cell!r} is not a duration in seconds")
            return None
        values.append(float(cell))
    if not values:
        table.fail("file", f"{path} holds no values")
        return None
    return Empirical(tuple(values), source=name)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_profile(table: Table) -> RateProfile:
    """Exactly one of `rate_per_hour`, `hourly_rates` (a curve, repeated) or `profile`."""
    given = [k for k in ("rate_per_hour", "hourly_rates", "profile") if k in table.data]
    if len(given) != 1:
        table.reader.problem(
            table.path,
            f"{table.label} needs exactly one of 'rate_per_hour', 'hourly_rates', 'profile'"
            + (f" (has {', '.join(given)})" if given else ""),
        )
        return RateProfile((0.0,), (0.0,), None)
    if given[0] == "rate_per_hour":
        rate = table.non_negative("rate_per_hour", 0.0)
        return RateProfile((0.0,), (rate / HOUR,), None)
    if given[0] == "hourly_rates":
        rates = _numbers(table, "hourly_rates")
        starts = tuple(i * HOUR for i in range(len(rates)))
        return RateProfile(
            starts or (0.0,), tuple(r / HOUR for r in rates) or (0.0,), len(rates) * HOUR or None
        )
    return _read_pieces(table)


def _numbers(table: Table, key: str) -> tuple[float, ...]:
    value = table.data.get(key)
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, int | float) and not isinstance(v, bool) and v >= 0 for v in value)
    ):
        table.fail(key, f"{key!r} in {table.label} must be a non-empty array of numbers >= 0")
        return ()
    return tuple(float(v) for v in value)


def _read_pieces(table: Table) -> RateProfile:
    pieces = table.tables("profile", "profile") or []
    starts: list[float] = []
    rates: list[float] = []
    for i, piece in pieces:
        sub = table.reader.table(
            piece, (*table.at("profile"), i), f"'profile' #{i + 1} of {table.label}"
        )
        sub.check_keys(("start_seconds", "rate_per_hour"))
        start = sub.non_negative("start_seconds", 0.0)
        if starts and start <= starts[-1]:
            sub.fail("start_seconds", "profile pieces must have increasing 'start_seconds'")
        starts.append(start)
        rates.append(sub.non_negative("rate_per_hour", 0.0) / HOUR)
    if not starts or starts[0] != 0.0:
        table.fail("profile", f"'profile' of {table.label} must start with start_seconds = 0")
        return RateProfile((0.0,), (0.0,), None)
    period = None
    if "profile_period_seconds" in table.data:
        period = table.number("profile_period_seconds", 86400.0, above=starts[-1])
    return RateProfile(tuple(starts), tuple(rates), period)


def read_levels(
    table: Table, key: str, *, low: int, high: int, default: Mapping[str, int] | None = None
) -> dict[str, int]:
    """`{support = 5}`: names to integers from `low` to `high`."""
    value = table.data.get(key)
    if value is None:
        return dict(default or {})
    if not isinstance(value, dict):
        table.wrong_type(key, "a table of integers", value)
        return dict(default or {})
    levels: dict[str, int] = {}
    for name, level in value.items():
        if isinstance(level, bool) or not isinstance(level, int) or not low <= level <= high:
            table.fail(
                key, f"{key}.{name} in {table.label} must be an integer from {low} to {high}"
            )
            continue
        levels[name] = level
    return levels


def read_shifts(table: Table) -> list[tuple[float, float]]:
    shifts: list[tuple[float, float]] = []
    for i, shift in table.tables("shifts", "shifts") or []:
        sub = table.reader.table(
            shift, (*table.at("shifts"), i), f"shift #{i + 1} of {table.label}"
        )
        sub.check_keys(("start_seconds", "end_seconds"))
        missing = [k for k in ("start_seconds", "end_seconds") if k not in shift]
        if missing:
            sub.reader.problem(sub.path, f"{sub.label} needs {' and '.join(map(repr, missing))}")
            continue
        start = sub.non_negative("start_seconds", 0.0)
        end = sub.number("end_seconds", start + 1.0)
        if end <= start:
            sub.fail("end_seconds", "a shift's 'end_seconds' must be after its 'start_seconds'")
        elif shifts and start < shifts[-1][1]:
            sub.fail("start_seconds", "shifts must not overlap and must be in time order")
        else:
            shifts.append((start, end))
    return shifts


def read_contact_template(table: Table, channel: str, queue: str | None) -> Contact:
    """The normalized contact (CONTRACT 4) every arrival of the stream copies."""
    value: Any = table.data.get("contact", {})
    if not isinstance(value, dict):
        table.wrong_type("contact", "a table (a normalized contact)", value)
        value = {}
    payload = {**value, "channel": channel}
    if queue is not None:
        payload["queue"] = queue
    try:
        return contact_from_json(payload, contact_id="template")
    except ModelError as exc:
        table.fail("contact", f"'contact' of {table.label}: {exc}")
        return Contact(id="template", channel=channel, queue=queue)
