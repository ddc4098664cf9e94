"""What the engine asks its host to do. The daemon sends them over MQTT and
WebSocket; the simulator feeds them to simulated agents.

Immutable `Value`s, cheap to build: the engine makes several per contact. The
third kind is a `RouterEvent` itself: publish it on `router/events` and to
every listener."""

from __future__ import annotations

from typing import Final

from router.model import Contact, HistoryEntry, Offer, RouterEvent
from router.value import Value


class SendOffer(Value):
    """Offer a contact to an agent (CONTRACT 5 `router/agents/{id}/offers`)."""

    __match_args__ = ("offer", "contact", "customer_history")

    def __init__(
        self, offer: Offer, contact: Contact, customer_history: tuple[HistoryEntry, ...]
    ) -> None:
        self.offer: Final = offer
        self.contact: Final = contact
        self.customer_history: Final = customer_history


class RevokeOffer(Value):
    """An open offer is gone (the customer left, or the contact was transferred)."""

    __match_args__ = ("offer", "reason")

    def __init__(self, offer: Offer, reason: str) -> None:
        self.offer: Final = offer
        self.reason: Final = reason


Effect = SendOffer | RevokeOffer | RouterEvent


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
