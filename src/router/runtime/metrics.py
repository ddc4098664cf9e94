"""Prometheus metrics for `GET /metrics`: what the router did, and how it stands now.

Two kinds of figures, gathered two ways:

- what happened (decisions, events, arrivals, offers, waits) is counted as it
  happens, from the core's effect and timing listeners, in plain numbers that a
  collector turns into counters and histograms at scrape time: exact even
  between scrapes, and cheap (prometheus-client's own counters take a lock and
  check their state on every increment: with eleven increments a contact, 6 %
  of the daemon's CPU under `benchmarks/e2e.py`);
- how things stand (live contacts, agents, per-queue figures, the inbox) is
  read from the engine at scrape time by a collector, so no gauge can drift
  from the engine's own state.

Each `RouterMetrics` has its own `CollectorRegistry`, never the process-wide
one: tests run several daemons in one process, and a reload must not find
metrics already registered.
"""

from __future__ import annotations

import logging
from bisect import bisect_left
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import accumulate

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.utils import floatToGoString

from router.engine import Effect, RevokeOffer, SendOffer
from router.model import AgentState, ContactState, RouterEvent
from router.runtime.core import RouterCore

__all__ = ["CONTENT_TYPE", "METRICS", "RouterMetrics", "handle_metrics"]

log = logging.getLogger("router.metrics")

#: the classic text format, which every Prometheus server reads. prometheus-client
#: 0.22+ names version 1.0.0 as CONTENT_TYPE_LATEST; `generate_latest` writes the
#: same bytes for our names (all legacy-valid), so the older, wider-read label fits.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: the engine decides in microseconds; a slow plugin shows up in the upper buckets
DECISION_BUCKETS = (
    0.00001,
    0.000025,
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
)
#: around the usual service-level thresholds, so "answered within N s" is a bucket
WAIT_BUCKETS = (1, 2, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600, 1800)

OFFER_RESULTS = ("sent", "accepted", "rejected", "expired", "revoked")
_RESULT_OF_EVENT = {
    "assigned": "accepted",
    "offer_rejected": "rejected",
    "offer_expired": "expired",
}
_LIVE_STATES = (
    ContactState.QUEUED,
    ContactState.OFFERED,
    ContactState.ASSIGNED,
    ContactState.WRAPUP,
)
#: a contact the engine no longer remembers (pruned from its finished records)
UNKNOWN = "unknown"


class RouterMetrics:
    """The router's metrics, fed by `core`'s listeners and read from `core.engine`.

    `process=False` leaves out the process, platform and GC collectors (which
    every Prometheus client exports by default) for a registry of router
    figures only.
    """

    def __init__(self, core: RouterCore, *, process: bool = True) -> None:
        self.core = core
        self.registry = CollectorRegistry()
        #: event type -> time the engine took to apply it
        self.decisions: dict[str, Histogram] = {}
        #: published event type -> how many
        self.events: Tally[str] = Tally()
        #: channel -> arrivals
        self.contacts: Tally[str] = Tally()
        #: result -> offers; every result there from the start, at zero: rate()
        #: needs a first sample
        self.offers: Tally[str] = Tally(dict.fromkeys(OFFER_RESULTS, 0))
        #: queue -> how long contacts waited until answered, or until they left
        self.wait: dict[str, Histogram] = {}
        self.abandon_wait: dict[str, Histogram] = {}
        self._prepare_queues()
        self.registry.register(_CountsCollector(self))
        self.registry.register(_EngineCollector(core))
        if process:
            # What the process-wide registry has by default, on ours: memory, CPU, fds, GC.
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
            GCCollector(registry=self.registry)
        core.add_listener(self.on_effect)
        core.add_timing_listener(self.on_timing)

    # ------------------------------------------------------------ listeners
    def on_timing(self, event: str, seconds: float) -> None:
        _series(self.decisions, event, DECISION_BUCKETS).observe(seconds)

    def on_effect(self, effect: Effect) -> None:
        match effect:
            case SendOffer():
                self.offers["sent"] += 1
            case RevokeOffer():
                self.offers["revoked"] += 1
            case RouterEvent():
                self._on_event(effect)

    def _on_event(self, event: RouterEvent) -> None:
        kind = event.type
        self.events[kind] += 1
        result = _RESULT_OF_EVENT.get(kind)
        if result is not None:
            self.offers[result] += 1
        queue = event.queue or UNKNOWN
        if kind in ("queued", "rejected"):
            self._count_arrival(event)
        elif kind == "assigned":
            _series(self.wait, queue).observe(self._answer_wait(event))
        elif kind == "abandoned":
            waited = event.details.get("waited_seconds")
            if isinstance(waited, int | float):
                _series(self.abandon_wait, queue).observe(waited)
        elif kind == "config_replaced":
            self._prepare_queues()

    def _count_arrival(self, event: RouterEvent) -> None:
        """Count a contact's first `queued` or `rejected` event; later ones are requeues."""
        record = self.core.engine.contact(event.contact_id) if event.contact_id else None
        if record is None:
            # Only a `rejected` arrival is retired at once; the engine may have
            # forgotten it already if it keeps very few finished contacts.
            if event.type == "rejected":
                self.contacts[UNKNOWN] += 1
            return
        # The engine appends each event it publishes to the contact's own list:
        # the arrival is the first of them (a transfer publishes `transferred` first).
        if record.events and record.events[0] is event:
            self.contacts[record.channel] += 1

    def _answer_wait(self, event: RouterEvent) -> float:
        wait = event.details.get("wait_seconds")
        if isinstance(wait, int | float):
            return float(wait)
        record = self.core.engine.contact(event.contact_id) if event.contact_id else None
        return max(0.0, event.at - record.entered_queue_at) if record is not None else 0.0

    def _prepare_queues(self) -> None:
        """Zero series for every queue and channel of the (possibly reloaded) config."""
        for queue in self.core.engine.queues.values():
            _series(self.wait, queue.name)
            _series(self.abandon_wait, queue.name)
            for channel in queue.channels:
                self.contacts.setdefault(channel, 0)

    # ------------------------------------------------------------ extension
    def add_gauge_callback(self, name: str, help: str, fn: Callable[[], float]) -> None:
        """A gauge read by calling `fn` at scrape time (an outbox size, a connection flag).

        `name` is the full metric name (`router_mqtt_outbox`); a name already
        registered raises ValueError. An `fn` that raises is logged and its
        gauge left out of that scrape; the other metrics are still served.
        """
        self.registry.register(_CallbackGauge(name, help, fn))

    # ------------------------------------------------------------ output
    def render(self) -> bytes:
        """The classic text exposition of the registry."""
        return generate_latest(self.registry)


class Histogram:
    """One histogram series in plain numbers: a count per bucket, and the sum."""

    __slots__ = ("bounds", "counts", "labels", "total")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(float(bound) for bound in bounds)
        #: each bucket's `le` label, as prometheus-client writes it (`5.0`, `1e-05`, `+Inf`)
        self.labels: tuple[str, ...] = tuple(
            floatToGoString(bound)  # type: ignore[no-untyped-call]
            for bound in (*self.bounds, float("inf"))
        )
        #: values in each bucket alone (not cumulative); the last is above every bound
        self.counts = [0] * (len(self.bounds) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        # a value equal to a bound belongs to that bound's bucket (`le`)
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    def buckets(self) -> list[tuple[str, float]]:
        """Cumulative counts by upper bound, `+Inf` last: the exposition's buckets."""
        return list(zip(self.labels, map(float, accumulate(self.counts)), strict=True))


def _series(
    series: dict[str, Histogram], label: str, bounds: Sequence[float] = WAIT_BUCKETS
) -> Histogram:
    """The histogram of `label`, made (at zero) the first time it is asked for."""
    histogram = series.get(label)
    if histogram is None:
        histogram = series[label] = Histogram(bounds)
    return histogram


class _CountsCollector:
    """What happened, as counted by `RouterMetrics`'s listeners, read at scrape time."""

    def __init__(self, metrics: RouterMetrics) -> None:
        self.metrics = metrics

    def describe(self) -> Iterable[Metric]:
        counters, histograms = self._families()
        return [*counters.values(), *histograms.values()]

    @staticmethod
    def _families() -> tuple[dict[str, CounterMetricFamily], dict[str, HistogramMetricFamily]]:
        counters = {
            "events": CounterMetricFamily(
                "router_events", "Events published on router/events, by type.", labels=["type"]
            ),
            "contacts": CounterMetricFamily(
                "router_contacts",
                "Contacts that arrived (queued or rejected the first time seen), by channel.",
                labels=["channel"],
            ),
            "offers": CounterMetricFamily(
                "router_offers",
                "Offers, by result: sent, accepted, rejected, expired, revoked.",
                labels=["result"],
            ),
        }
        histograms = {
            "decisions": HistogramMetricFamily(
                "router_decisions_seconds",
                "Time the engine took to apply one event, by event type.",
                labels=["event"],
            ),
            "wait": HistogramMetricFamily(
                "router_wait_seconds",
                "Time contacts waited in the queue until an agent accepted them.",
                labels=["queue"],
            ),
            "abandon_wait": HistogramMetricFamily(
                "router_abandon_wait_seconds",
                "Time contacts waited in the queue before the customer left.",
                labels=["queue"],
            ),
        }
        return counters, histograms

    def collect(self) -> Iterator[Metric]:
        m = self.metrics
        counters, histograms = self._families()
        for name, counts in (("events", m.events), ("contacts", m.contacts), ("offers", m.offers)):
            for label, count in counts.items():
                counters[name].add_metric([label], count)
        for name, series in (
            ("decisions", m.decisions),
            ("wait", m.wait),
            ("abandon_wait", m.abandon_wait),
        ):
            for label, histogram in series.items():
                histograms[name].add_metric([label], histogram.buckets(), histogram.total)
        yield histograms["decisions"]
        yield from counters.values()
        yield from (histograms["wait"], histograms["abandon_wait"])


class _EngineCollector:
    """The engine as it stands, read at scrape time (the loop thread: no lock needed)."""

    def __init__(self, core: RouterCore) -> None:
        self.core = core

    def describe(self) -> Iterable[Metric]:
        # Registers the names with the registry, so a clash is caught at start. All
        # but `router_contacts`: the registry holds that family name for the arrivals
        # counter, whose series is `router_contacts_total`; in the text format the
        # two are distinct metrics, as the names were chosen to be.
        return [family for family in self._families() if family.name != "router_contacts"]

    def _families(self) -> list[GaugeMetricFamily]:
        return [
            GaugeMetricFamily(
                "router_contacts",
                "Contacts the router holds now, by channel and state.",
                labels=["channel", "state"],
            ),
            GaugeMetricFamily("router_agents", "Agents by state.", labels=["state"]),
            GaugeMetricFamily(
                "router_queue_waiting", "Contacts waiting in the queue.", labels=["queue"]
            ),
            GaugeMetricFamily(
                "router_queue_longest_wait_seconds",
                "How long the oldest waiting contact has waited.",
                labels=["queue"],
            ),
            GaugeMetricFamily(
                "router_queue_service_level",
                "Answered within the queue's SLA over answered and abandoned (absent before any).",
                labels=["queue"],
            ),
            GaugeMetricFamily(
                "router_queue_sla_seconds", "The queue's service-level threshold.", labels=["queue"]
            ),
            GaugeMetricFamily(
                "router_queue_asa_seconds", "Average speed of answer.", labels=["queue"]
            ),
            GaugeMetricFamily(
                "router_queue_agents_available",
                "Available agents that serve the queue.",
                labels=["queue"],
            ),
            GaugeMetricFamily(
                "router_inbox_pending", "Events waiting for the engine (the core's inbox)."
            ),
        ]

    def collect(self) -> Iterator[Metric]:
        engine = self.core.engine
        (
            contacts,
            agents,
            waiting,
            longest,
            service_level,
            sla,
            asa,
            available,
            pending,
        ) = self._families()

        live: Tally[tuple[str, str]] = Tally()
        channels = {channel for queue in engine.queues.values() for channel in queue.channels}
        for record in engine.contacts.values():
            live[record.channel, str(record.state)] += 1
            channels.add(record.channel)
        for channel in sorted(channels):
            for state in _LIVE_STATES:
                contacts.add_metric([channel, str(state)], live[channel, str(state)])

        by_state = Tally(str(agent.state) for agent in engine.agents.values())
        for agent_state in AgentState:
            agents.add_metric([str(agent_state)], by_state[str(agent_state)])

        # The engine's figures are as of the last event it applied; when idle it
        # sees no time pass. The oldest waiting contact stays the oldest until
        # an event changes something, so its wait simply grows by the idle time.
        idle = max(0.0, self.core.clock() - engine.now)
        for stats in engine.stats():
            label = [stats.name]
            waiting.add_metric(label, stats.waiting)
            longest.add_metric(label, stats.longest_wait_seconds + idle if stats.waiting else 0.0)
            if stats.service_level is not None:
                service_level.add_metric(label, stats.service_level)
            sla.add_metric(label, stats.sla_seconds)
            asa.add_metric(label, stats.asa_seconds)
            available.add_metric(label, stats.agents_available)

        pending.add_metric([], self.core.pending)
        yield from (contacts, agents, waiting, longest, service_level, sla, asa, available, pending)


class _CallbackGauge:
    def __init__(self, name: str, help: str, fn: Callable[[], float]) -> None:
        self.name = name
        self.help = help
        self.fn = fn

    def describe(self) -> Iterable[Metric]:
        return [GaugeMetricFamily(self.name, self.help)]

    def collect(self) -> Iterator[Metric]:
        try:
            value = float(self.fn())
        except Exception:  # a broken callback must not take /metrics down
            log.exception("metrics callback for %s failed", self.name)
            return
        yield GaugeMetricFamily(self.name, self.help, value=value)


METRICS = web.AppKey("metrics", RouterMetrics)


async def handle_metrics(request: web.Request) -> web.Response:
    """`GET /metrics`: the Prometheus text format, from the app's `METRICS`."""
    body = request.app[METRICS].render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})
