"""What the engine asks its host to do. The daemon sends them over MQTT and
WebSocket; the simulator feeds them to simulated agents.

NamedTuples, immutable and cheap to build: the engine makes several per contact."""

from __future__ import annotations

from typing import NamedTuple

from router.model import Contact, HistoryEntry, Offer, RouterEvent


class SendOffer(NamedTuple):
    """Offer a contact to an agent (CONTRACT 5 `router/agents/{id}/offers`)."""

    offer: Offer
    contact: Contact
    customer_history: tuple[HistoryEntry, ...]


class RevokeOffer(NamedTuple):
    """An open offer is gone (the customer left, or the contact was transferred)."""

    offer: Offer
    reason: str


class Publish(NamedTuple):
    """A state change for `router/events` and every listener."""

    event: RouterEvent


Effect = SendOffer | RevokeOffer | Publish


class EngineError(Exception):
    """A request the engine refuses; nothing was changed.

    `code` maps to HTTP: not_found → 404, conflict → 409, bad_request → 400.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        #: effects of timers fired before the refusal; the host still carries them out
        self.effects: list[Effect] = []
