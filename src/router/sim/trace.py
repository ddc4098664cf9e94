"""A trace of real contacts to replay: JSON Lines, one normalized contact per line
(CONTRACT 4) plus `arrival_seconds` (when it arrived, from the start of the run),
and optionally `handle_seconds` and `patience_seconds` (the measured handle time
and how long the customer would have waited). Durations a line leaves out are
drawn from the replay table's `handle_time` and `patience`.

Lines are sorted by arrival time; blank lines are skipped. A line without an
`id` gets `trace-LINE`.
"""

from __future__ import annotations

import math
from pathlib import Path

import orjson

from router.config_reader import Table
from router.contact_json import contact_from_json
from router.model import ModelError
from router.sim.workload_types import TracedContact

EXTRA_FIELDS = ("arrival_seconds", "handle_seconds", "patience_seconds")


def read_trace(table: Table, path: Path, *, need_handle: bool) -> tuple[TracedContact, ...]:
    try:
        lines = path.read_bytes().splitlines()
    except OSError as exc:
        table.fail("file", f"cannot read trace {path}: {exc.strerror or exc}")
        return ()
    contacts: list[TracedContact] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            payload = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            table.fail("file", f"{where}: not JSON: {exc}")
            continue
        if not isinstance(payload, dict):
            table.fail("file", f"{where}: a line must be a JSON object")
            continue
        durations: list[float | None] = []
        for name in EXTRA_FIELDS:
            value = payload.pop(name, None)
            if value is not None and (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or value < 0
                or not math.isfinite(value)
            ):
                table.fail("file", f"{where}: {name!r} must be a number of seconds >= 0")
                value = None
            durations.append(None if value is None else float(value))
        at, handle, patience = durations
        if at is None:
            table.fail("file", f"{where}: needs 'arrival_seconds'")
            continue
        if handle is None and need_handle:
            table.fail("file", f"{where}: no 'handle_seconds', and the replay has no 'handle_time'")
            continue
        try:
            contact = contact_from_json(payload, contact_id=f"trace-{number}")
        except ModelError as exc:
            table.fail("file", f"{where}: {exc}")
            continue
        contacts.append(TracedContact(at, contact, handle, patience))
    contacts.sort(key=lambda c: c.at)
    return tuple(contacts)
