"""The engine's records as JSON documents, and back: what the store keeps.

A document holds everything that is the record's own (for a contact: the
contact itself, its state, queue, priority, offer, agent, declines, events);
what the engine derives from records (heaps, indexes, timers, an agent's load)
is rebuilt from them by `router.engine.restore`. Documents are plain JSON so
that a store written by one version reads in the next: a field added later
gets its default when absent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict
from typing import Any

import orjson

from router.engine.core import Engine
from router.engine.records import AgentRecord, ContactRecord
from router.engine.restore import EngineState
from router.engine.stats import QueueCounters
from router.model import (
    EMPTY_MAPPING,
    AgentProfile,
    AgentState,
    Contact,
    ContactState,
    Customer,
    EscalationStep,
    Offer,
    QueueConfig,
    RouterEvent,
)
from router.plugin_api import OutcomeStats

Document = dict[str, Any]

#: the counters a queue keeps across restarts (`waiting` is counted again from the contacts)
_COUNTER_FIELDS = (
    "arrived",
    "answered",
    "answered_in_sla",
    "abandoned",
    "handled",
    "answer_wait_sum",
)


def dumps(document: Document) -> bytes:
    return orjson.dumps(document, default=_json_default)


def loads(raw: bytes | str) -> Document:
    document: Document = orjson.loads(raw)
    return document


def dumps_list(documents: list[Document]) -> bytes:
    return orjson.dumps(documents, default=_json_default)


def loads_list(raw: bytes | str) -> list[Document]:
    documents: list[Document] = orjson.loads(raw)
    return documents


# ------------------------------------------------------------------ contacts
def contact_document(record: ContactRecord) -> Document:
    # Written out field by field, not with `dataclasses.asdict`: this runs for every
    # contact in every batch, and asdict's deep copies made it twice as slow. Fields
    # that are None are left out (they decode to None): a restart reads every live
    # document, and at 100,000 of them each byte and key counts.
    offer = record.offer
    contact_id = record.id
    document = {
        "contact": record.contact.to_json(),
        "seq": record.seq,
        "arrived_at": record.arrived_at,
        "state": str(record.state),
        "queue": record.queue,
        "entered_queue_at": record.entered_queue_at,
        "priority": record.priority,
        "min_level": record.min_level,
        "extra_queues": list(record.extra_queues),
        "escalations": [_escalation_document(step) for step in record.escalations],
        "offer": _offer_document(offer) if offer is not None else None,
        "agent_id": record.agent_id,
        "target_agent": record.target_agent,
        "declined_by": record.declined_by,
        "answered_at": record.answered_at,
        "wrapup_until": record.wrapup_until,
        "outcome": record.outcome,
        "csat": record.csat,
        "reason": record.reason,
        "events": [_event_document(event, contact_id) for event in record.events],
    }
    return {key: value for key, value in document.items() if value is not None}


def contact_record(document: Document) -> ContactRecord:
    # Positional arguments and one `get` per optional field: a restore runs this for
    # every live contact (100,000 of them in the restart benchmark).
    get = document.get
    offer = get("offer")
    contact = _contact(document["contact"])
    return ContactRecord(
        contact,
        document["seq"],
        document["arrived_at"],
        ContactState(document["state"]),
        get("queue"),
        document["entered_queue_at"],
        get("priority", 0.0),
        get("min_level", 1),
        tuple(get("extra_queues", ())),
        [_escalation(step) for step in get("escalations", ())],
        offer=Offer(**offer) if offer else None,
        agent_id=get("agent_id"),
        target_agent=get("target_agent"),
        declined_by=dict(get("declined_by", {})),
        answered_at=get("answered_at"),
        wrapup_until=get("wrapup_until"),
        outcome=get("outcome"),
        csat=get("csat"),
        reason=get("reason"),
        events=[_event(event, contact.id) for event in get("events", ())],
    )


def _contact(document: Document) -> Contact:
    # The decoded JSON is fresh and ours alone: its dicts are used as they are, not copied.
    get = document.get
    customer = get("customer") or {}
    return Contact(
        document["id"],
        document["channel"],
        Customer(**customer),
        get("subject", ""),
        get("body", ""),
        get("queue"),
        tuple(get("skills", ())),
        get("priority", 0),
        get("thread_id"),
        get("attributes") or EMPTY_MAPPING,
    )


def _event_document(event: RouterEvent, contact_id: str) -> Document:
    """The event as its contact keeps it: the contact's own id and empty fields left out."""
    document: Document = {"type": event.type, "at": event.at}
    if event.contact_id != contact_id:
        document["contact_id"] = event.contact_id
    if event.agent_id is not None:
        document["agent_id"] = event.agent_id
    if event.queue is not None:
        document["queue"] = event.queue
    if event.details:
        document["details"] = event.details
    return document


def _event(document: Document, contact_id: str) -> RouterEvent:
    get = document.get
    return RouterEvent(
        document["type"],
        document["at"],
        get("contact_id", contact_id),
        get("agent_id"),
        get("queue"),
        get("details") or EMPTY_MAPPING,
    )


def _offer_document(offer: Offer) -> Document:
    return {
        "id": offer.id,
        "contact_id": offer.contact_id,
        "agent_id": offer.agent_id,
        "queue": offer.queue,
        "created_at": offer.created_at,
        "expires_at": offer.expires_at,
    }


def _escalation_document(step: EscalationStep) -> Document:
    return {
        "after_seconds": step.after_seconds,
        "min_level": step.min_level,
        "add_queues": list(step.add_queues),
        "priority_boost": step.priority_boost,
    }


def _escalation(document: Document) -> EscalationStep:
    get = document.get
    key = (
        document["after_seconds"],
        get("min_level"),
        tuple(get("add_queues", ())),
        get("priority_boost", 0.0),
    )
    # The steps are the queues' own, taken by many contacts: one shared (frozen)
    # object per distinct step, not one per contact and step.
    step = _STEPS.get(key)
    if step is None:
        step = _STEPS[key] = EscalationStep(*key)
    return step


#: every distinct escalation step decoded so far (a handful: they come from the config)
_STEPS: dict[tuple[float, int | None, tuple[str, ...], float], EscalationStep] = {}


# -------------------------------------------------------------------- agents
def agent_document(agent: AgentRecord) -> Document:
    profile = agent.profile
    return {
        "profile": {
            "id": profile.id,
            "name": profile.name,
            "skills": dict(profile.skills),
            "languages": sorted(profile.languages),
            "capacity": dict(profile.capacity),
        },
        "state": str(agent.state),
        "idle_since": agent.idle_since,
        "missed_offers": agent.missed_offers,
        "placed": agent.placed,
        "outcomes": {queue: _outcome_document(stats) for queue, stats in agent.outcomes.items()},
    }


def agent_record(document: Document) -> AgentRecord:
    profile = document["profile"]
    return AgentRecord(
        profile=AgentProfile(
            id=profile["id"],
            name=profile.get("name", ""),
            skills=dict(profile.get("skills", {})),
            languages=frozenset(profile.get("languages", ())),
            capacity=dict(profile.get("capacity", {})),
        ),
        state=AgentState(document.get("state", "offline")),
        idle_since=document.get("idle_since", 0.0),
        missed_offers=document.get("missed_offers", 0),
        placed=document.get("placed", 0),
        outcomes={
            queue: OutcomeStats(**stats) for queue, stats in document.get("outcomes", {}).items()
        },
    )


def _outcome_document(stats: OutcomeStats) -> Document:
    # not `asdict`: an agent is written whenever it takes or frees a contact
    return {
        "handled": stats.handled,
        "resolved": stats.resolved,
        "csat_sum": stats.csat_sum,
        "csat_count": stats.csat_count,
    }


# ------------------------------------------------------ the engine's own figures
def figures_document(engine: Engine) -> Document:
    """The engine's running counts: arrival and offer numbers, list placements.

    Written with every batch; each queue's counters are a document of their own
    (`counters_document`), written only when they moved.
    """
    return {
        "seq": engine.seq,
        "offer_seq": engine.offer_seq,
        "placements": engine.available.placements,
    }


def counters_document(counters: QueueCounters) -> Document:
    """A queue's kept counters, a dict literal (half the time of a loop over `_COUNTER_FIELDS`)."""
    return {
        "name": counters.name,
        "arrived": counters.arrived,
        "answered": counters.answered,
        "answered_in_sla": counters.answered_in_sla,
        "abandoned": counters.abandoned,
        "handled": counters.handled,
        "answer_wait_sum": counters.answer_wait_sum,
    }


def queues_document(queues: Iterable[QueueConfig]) -> list[Document]:
    return [asdict(queue) for queue in queues]


def queue_configs(documents: Iterable[Document]) -> tuple[QueueConfig, ...]:
    return tuple(
        QueueConfig(
            **{
                **document,
                "channels": tuple(document["channels"]),
                "skills": tuple(document.get("skills", ())),
                "escalation": tuple(_escalation(step) for step in document.get("escalation", ())),
            }
        )
        for document in documents
    )


def engine_state(
    *,
    figures: Document | None,
    queues: list[Document] | None,
    contacts: Iterable[Document],
    agents: Iterable[Document],
    joined: Mapping[str, str],
    counters: Iterable[Document] = (),
) -> EngineState:
    """The documents a store loaded, as the records `restore` takes."""
    figures = figures or {}
    # a store written before the counters had documents of their own kept them in the
    # figures; its own counter documents, once written, are newer
    kept = {name: {"name": name, **values} for name, values in figures.get("counters", {}).items()}
    kept.update((document["name"], document) for document in counters)
    queue_counters = []
    for name, values in kept.items():
        counter = QueueCounters(name)
        for field_name in _COUNTER_FIELDS:
            setattr(counter, field_name, values.get(field_name, 0))
        queue_counters.append(counter)
    return EngineState(
        queues=queue_configs(queues) if queues is not None else None,
        contacts=[contact_record(document) for document in contacts],
        agents=[agent_record(document) for document in agents],
        counters=queue_counters,
        joined=dict(joined),
        seq=figures.get("seq", 0),
        offer_seq=figures.get("offer_seq", 0),
        placements=figures.get("placements", 0),
    )


def _json_default(value: object) -> object:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON")
