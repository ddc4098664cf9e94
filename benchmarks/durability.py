"""The throughput cost of durability: contact ingest by store setting (issue 4).

Everything is real: `router run` in a subprocess on the shipped config
(`config/router.toml`: its queues, plugins and routing; ports, broker and
store rewritten), a Mosquitto started from `config/mosquitto.conf`, HTTP
through aiohttp, MQTT through aiomqtt. The harness is `restart.py`'s.

Store settings compared, `[store]`:

- `memory`: `path = ":memory:"`, the same store code with nothing durable,
  the baseline;
- `off`, `normal`, `full`: a SQLite file with `synchronous` set so (SQLite's
  PRAGMA synchronous; "full" is the daemon's default: an acknowledged event
  survives a power loss).

Workload: N contacts (20,000; `--quick` 3,000) with explicit ids, channel
chat, queue `support`, one of 20,000 customers (5 % vip), a subject and a
short body. **No agents**: every contact is queued and waits, so each one
costs its arrival (the routing attempt, the queue entry, its `queued` event
on MQTT) and its write to the store; no offers are made. Before the N, 500
warm-up contacts (200 with `--quick`) go the same way and are not counted.

- http: `POST /v1/contacts` from 64 concurrent clients (one aiohttp session,
  keep-alive). A request is acknowledged with its 202, which the daemon sends
  once the contact is in the store (group commit: one commit per batch of
  events). Throughput = N / time from the first request to the last 202;
  latency = each request's time to its 202 (p50, p99).
- mqtt: one gateway client publishes the N with QoS 1 to
  `router/contacts/in/chat` (64 publishes awaiting their PUBACK at once).
  The broker acknowledges the publisher on its own; the router takes the
  messages from its persistent session and acknowledges each after the
  store. Throughput = N / time from the first publish until the router has
  all of them (the last contact readable by `GET /v1/contacts/{id}`, then
  the `offered` figures of `/v1/stats` summing to the warm-up plus N).
  Latency per message is not measured.

Each (store, transport) run gets a fresh broker, a fresh store and a fresh
daemon. Rounds (3; `--quick` 1) go through every store setting in turn, the
order rotated each round, so that slow drift in the machine's load falls on
all of them alike. Figures: median over the rounds of contacts/s, ack p50 and
p99, and the daemon's CPU time per contact (from /proc/PID/stat: less
sensitive to other load than wall time); ratios against `memory`.

Run:  .venv/bin/python benchmarks/durability.py [--quick] [--json]
      [--stores memory,off,normal,full] [--transports http,mqtt]

Prints figures, never asserts. The load generator shares the machine with
the daemon (and, for mqtt, with the broker): on 2 cores the three compete.
A run the daemon refuses to start (e.g. a config key it does not know yet)
is reported with the daemon's own message and left out of the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt

# The harness lives beside this file; put its folder on the path also when this
# module is loaded by file location (as the smoke tests load benchmarks).
_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from restart import (  # noqa: E402 - needs the path above
    CONCURRENCY,
    Broker,
    Daemon,
    arrived_total,
    client_session,
    contact_body,
    contact_id,
    free_port,
    get_json,
    loop_factory,
    machine,
    percentile_ms,
    post_contacts,
    store_bytes,
    wait_ready,
    write_config,
)

#: store setting -> synchronous written in the config (None: the `:memory:` store)
STORES: dict[str, str | None] = {"memory": None, "off": "off", "normal": "normal", "full": "full"}
TRANSPORTS = ("http", "mqtt")
BASELINE = "memory"
START_TIMEOUT_S = 60.0
#: how long the router may take to have every published message, past the publishing
DRAIN_TIMEOUT_S = 600.0
POLL_SECONDS = 0.02


@dataclass(frozen=True, slots=True)
class Params:
    mode: str
    contacts: int
    warmup: int
    rounds: int
    stores: tuple[str, ...]
    transports: tuple[str, ...]
    concurrency: int = CONCURRENCY


@dataclass(slots=True)
class Run:
    store: str
    transport: str
    round: int
    #: None when the run worked; else why it did not (the daemon's refusal, a time-out)
    error: str | None = None
    contacts: int = 0
    seconds: float = 0.0
    per_second: float = 0.0
    #: http only: time to each 202
    ack_p50_ms: float | None = None
    ack_p99_ms: float | None = None
    #: http only: 429/503 answers, each retried after min(Retry-After, 0.5 s)
    retries: int = 0
    #: mqtt only: time until the broker acknowledged every publish
    publish_s: float | None = None
    daemon_cpu_ms_per_contact: float = 0.0
    client_cpu_ms_per_contact: float = 0.0
    db_bytes: int = 0
    wal_bytes: int = 0
    #: seconds from SIGTERM to exit afterwards (the store's close included)
    stop_s: float = 0.0


@dataclass(slots=True)
class Report:
    params: Params
    machine: dict[str, Any]
    runs: list[Run] = field(default_factory=list)

    def summary(self) -> dict[str, dict[str, dict[str, float | None]]]:
        """transport -> store -> median figures over the rounds, and ratios to `memory`."""
        out: dict[str, dict[str, dict[str, float | None]]] = {}
        for transport in self.params.transports:
            rows: dict[str, dict[str, float | None]] = {}
            for store in self.params.stores:
                runs = [
                    r
                    for r in self.runs
                    if r.store == store and r.transport == transport and r.error is None
                ]
                rows[store] = {
                    "rounds": len(runs),
                    "per_second": _median([r.per_second for r in runs]),
                    "ack_p50_ms": _median([r.ack_p50_ms for r in runs]),
                    "ack_p99_ms": _median([r.ack_p99_ms for r in runs]),
                    "daemon_cpu_ms_per_contact": _median(
                        [r.daemon_cpu_ms_per_contact for r in runs]
                    ),
                }
            base = rows.get(BASELINE, {})
            for row in rows.values():
                row["throughput_ratio"] = _ratio(row["per_second"], base.get("per_second"))
                row["cpu_ratio"] = _ratio(
                    row["daemon_cpu_ms_per_contact"], base.get("daemon_cpu_ms_per_contact")
                )
            out[transport] = rows
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "benchmark": "durability",
            "params": asdict(self.params),
            "machine": self.machine,
            "runs": [asdict(r) for r in self.runs],
            "summary": self.summary(),
        }


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _ratio(value: float | None, base: float | None) -> float | None:
    return None if value is None or not base else value / base


# ------------------------------------------------------------------ MQTT ingest
async def publish_contacts(broker: Broker, bodies: Sequence[bytes], concurrency: int) -> float:
    """Publish every body with QoS 1; seconds until the broker acknowledged them all."""
    async with aiomqtt.Client(
        broker.host,
        broker.port,
        identifier=f"bench-gateway-{time.monotonic_ns()}",
        max_inflight_messages=1000,
        # as the router does: no Nagle delay on small PUBLISH packets
        socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
    ) as client:
        client.pending_calls_threshold = concurrency + 16  # aiomqtt warns above 10
        next_body = iter(bodies)

        async def publisher() -> None:
            for body in next_body:  # shared: each body is taken once, in order
                await client.publish("router/contacts/in/chat", body, qos=1)

        started = time.perf_counter()
        async with asyncio.TaskGroup() as group:
            for _ in range(concurrency):
                group.create_task(publisher())
        return time.perf_counter() - started


async def wait_arrived(
    session: aiohttp.ClientSession, daemon: Daemon, last_id: str, expected: int
) -> None:
    """Until the router holds `last_id` (cheap to poll) and `expected` arrivals in all."""
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    url = f"{daemon.base}/v1/contacts/{last_id}"
    while (await get_json(session, url))[0] != 200:
        _check_deadline(deadline, daemon, f"contact {last_id} never arrived")
        await asyncio.sleep(POLL_SECONDS)
    while arrived_total((await get_json(session, f"{daemon.base}/v1/stats"))[1]) < expected:
        _check_deadline(deadline, daemon, f"fewer than {expected} contacts arrived")
        await asyncio.sleep(POLL_SECONDS)


def _check_deadline(deadline: float, daemon: Daemon, what: str) -> None:
    if not daemon.running():
        raise RunError(f"the daemon exited: {daemon.log_tail(5)}")
    if time.monotonic() > deadline:
        raise RunError(f"time-out: {what}")


class RunError(Exception):
    """One run could not be measured; the message says why."""


# ------------------------------------------------------------------ one run
@dataclass(slots=True)
class Target:
    """The daemon under test and what reaches it."""

    session: aiohttp.ClientSession
    daemon: Daemon
    broker: Broker
    params: Params

    async def send(
        self, transport: str, bodies: Sequence[bytes], *, last_id: str, total: int, run: Run
    ) -> float:
        """Send `bodies` by `transport`; seconds until the router acknowledged or holds them.

        `total`: the contacts the router holds afterwards (warm-up included);
        `last_id`: the id of the last body, the one to poll for over MQTT.
        """
        started = time.perf_counter()
        if transport == "http":
            result = await post_contacts(
                self.session, self.daemon.base, bodies, self.params.concurrency
            )
            run.ack_p50_ms = percentile_ms(result.latencies_ns, 0.5)
            run.ack_p99_ms = percentile_ms(result.latencies_ns, 0.99)
            run.retries = result.retries
        else:
            run.publish_s = await publish_contacts(self.broker, bodies, self.params.concurrency)
            await wait_arrived(self.session, self.daemon, last_id, total)
        return time.perf_counter() - started


async def measure(
    session: aiohttp.ClientSession, store: str, transport: str, round_: int, params: Params
) -> Run:
    """One fresh broker, store and daemon; warm up, then time the N contacts."""
    run = Run(store=store, transport=transport, round=round_)
    prefix = f"{store}-{transport}-{round_}"
    warmup = [contact_body(f"{prefix}-w", i) for i in range(params.warmup)]
    bodies = [contact_body(prefix, i) for i in range(params.contacts)]
    broker = Broker()
    broker.start()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-durability-") as tmp:
            path = Path(tmp) / "var" / "router.db"
            http_port = free_port()
            config = write_config(
                Path(tmp),
                http_port=http_port,
                mqtt_url=broker.url,
                store=":memory:" if STORES[store] is None else str(path),
                synchronous=STORES[store],
            )
            daemon = Daemon(config, http_port)
            daemon.start()
            target = Target(session, daemon, broker, params)
            try:
                await _start(session, daemon)
                await target.send(
                    transport,
                    warmup,
                    last_id=contact_id(f"{prefix}-w", params.warmup - 1),
                    total=params.warmup,
                    run=run,
                )
                cpu, client_cpu = daemon.cpu_seconds(), time.process_time()
                run.seconds = await target.send(
                    transport,
                    bodies,
                    last_id=contact_id(prefix, params.contacts - 1),
                    total=params.warmup + params.contacts,
                    run=run,
                )
                n = params.contacts
                run.daemon_cpu_ms_per_contact = (daemon.cpu_seconds() - cpu) * 1000 / n
                run.client_cpu_ms_per_contact = (time.process_time() - client_cpu) * 1000 / n
                run.contacts = n
                run.per_second = n / run.seconds
                run.db_bytes, run.wal_bytes = store_bytes(path)
            except RunError as error:
                run.error = str(error)
            finally:
                if daemon.running():
                    run.stop_s = daemon.terminate()[0]
    finally:
        broker.close()
    return run


async def _start(session: aiohttp.ClientSession, daemon: Daemon) -> None:
    try:
        readiness = await wait_ready(session, daemon, 0, START_TIMEOUT_S, mqtt=True)
    except RuntimeError as error:  # the daemon exited: most likely it refused the config
        raise RunError(_refusal(daemon.log_tail(5)) or str(error)) from None
    if readiness.ready_s is None:
        raise RunError(f"the daemon was not ready within {START_TIMEOUT_S:.0f} s")


def _refusal(log: str) -> str | None:
    """The daemon's complaint, as one line (check-config style lines come first)."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    return "; ".join(lines[-3:]) if lines else None


async def run_all(params: Params, *, log: bool = True) -> Report:
    report = Report(params=params, machine=machine())
    async with client_session(params.concurrency) as session:
        for round_ in range(params.rounds):
            shift = round_ % len(params.stores)
            order = params.stores[shift:] + params.stores[:shift]
            for store in order:
                for transport in params.transports:
                    run = await measure(session, store, transport, round_, params)
                    report.runs.append(run)
                    if log:
                        done = run.error or f"{run.per_second:,.0f} contacts/s"
                        print(
                            f"  round {round_ + 1} {store:<6} {transport:<4}: {done}",
                            file=sys.stderr,
                            flush=True,
                        )
    return report


# ------------------------------------------------------------------ output
def _f(value: float | None, spec: str) -> str:
    """`value` formatted by `spec`; a missing one as "-" in the same width."""
    if value is None:
        digits = spec[: len(spec) - len(spec.lstrip("0123456789"))]
        return "-".rjust(int(digits or 0))
    return format(value, spec)


def render(report: Report) -> str:
    p, m = report.params, report.machine
    lines = [
        f"Durability ({p.mode}): {p.contacts:,} contacts per run after {p.warmup:,} warm-up,"
        f" no agents (all wait), concurrency {p.concurrency}, {p.rounds} rounds interleaved;"
        f" {m['nproc']} CPUs ({m['cpu']}), Python {m['python']}, SQLite {m['sqlite']},"
        f" revision {m['revision']}",
        "",
        f"{'round':>5} {'store':<6} {'via':<4} {'contacts/s':>10} {'p50 ms':>7} {'p99 ms':>7}"
        f" {'pub s':>6} {'cpu ms':>6} {'client':>6} {'db MB':>6} {'wal MB':>6} {'stop s':>6}"
        f" {'503s':>5}",
    ]
    for r in report.runs:
        head = f"{r.round + 1:>5} {r.store:<6} {r.transport:<4}"
        if r.error is not None:
            lines.append(f"{head} FAILED: {r.error}")
            continue
        lines.append(
            f"{head} {r.per_second:>10,.0f} {_f(r.ack_p50_ms, '7.1f')} {_f(r.ack_p99_ms, '7.1f')}"
            f" {_f(r.publish_s, '6.2f')} {r.daemon_cpu_ms_per_contact:>6.3f}"
            f" {r.client_cpu_ms_per_contact:>6.3f} {r.db_bytes / 1e6:>6.1f}"
            f" {r.wal_bytes / 1e6:>6.1f} {r.stop_s:>6.2f} {r.retries:>5}"
        )
    lines += [
        "",
        "Medians over the rounds (cpu: the daemon's CPU ms per contact; ratios against memory):",
        f"{'via':<4} {'store':<6} {'n':>2} {'contacts/s':>10} {'ratio':>6} {'p50 ms':>7}"
        f" {'p99 ms':>7} {'cpu ms':>6} {'ratio':>6}",
    ]
    for transport, rows in report.summary().items():
        for store, row in rows.items():
            lines.append(
                f"{transport:<4} {store:<6} {row['rounds']:>2.0f} {_f(row['per_second'], '10,.0f')}"
                f" {_f(row['throughput_ratio'], '6.2f')} {_f(row['ack_p50_ms'], '7.1f')}"
                f" {_f(row['ack_p99_ms'], '7.1f')} {_f(row['daemon_cpu_ms_per_contact'], '6.3f')}"
                f" {_f(row['cpu_ratio'], '6.2f')}"
            )
    return "\n".join(lines)


MODES = {
    "full": {"contacts": 20_000, "warmup": 500, "rounds": 3},
    "quick": {"contacts": 3_000, "warmup": 200, "rounds": 1},
}


def _names(text: str, known: Sequence[str]) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(known)}")
    return names


def main(argv: Sequence[str] | None = None) -> Report:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="3,000 contacts, one round")
    parser.add_argument("--json", action="store_true", help="end with one JSON line of figures")
    parser.add_argument("--contacts", type=int, default=None, help="override N")
    parser.add_argument("--rounds", type=int, default=None, help="override the rounds")
    parser.add_argument(
        "--stores",
        type=lambda text: _names(text, tuple(STORES)),
        default=tuple(STORES),
        help="store settings, comma-separated (default: memory,off,normal,full)",
    )
    parser.add_argument(
        "--transports",
        type=lambda text: _names(text, TRANSPORTS),
        default=TRANSPORTS,
        help="http, mqtt or both (default)",
    )
    args = parser.parse_args(argv)
    mode = "quick" if args.quick else "full"
    sizes = MODES[mode]
    params = Params(
        mode=mode,
        contacts=args.contacts or sizes["contacts"],
        warmup=sizes["warmup"],
        rounds=args.rounds or sizes["rounds"],
        stores=args.stores,
        transports=args.transports,
    )
    started = time.perf_counter()
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        report = runner.run(run_all(params))
    print(render(report))
    print(f"Total {time.perf_counter() - started:.1f} s")
    if args.json:
        print(json.dumps(report.to_json()))
    return report


if __name__ == "__main__":
    main()
