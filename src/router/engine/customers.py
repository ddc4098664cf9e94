"""One customer across channels: e-mail, phone, WhatsApp and Messenger ids linked.

A contact names its customer by whatever its channel knows: an e-mail address,
a phone number, a WhatsApp or Messenger id, an explicit customer id. Every
identifier on one contact belongs to the same person, so the directory links
them (union-find): a chat that gives e-mail and phone joins the customer who
wrote by e-mail with the one who called, and from then on both histories are
one. Each customer keeps its recent contacts and its last agent (sticky routing).

Linking is deterministic (it depends only on the order of arrivals), so
replaying the journal rebuilds the same directory.
"""

from __future__ import annotations

import heapq
from collections import deque


class CustomerDirectory:
    def __init__(self, history_limit: int) -> None:
        #: identity → a linked identity; a root maps to itself
        self._parent: dict[str, str] = {}
        #: root → (arrival seq, contact id), oldest first, bounded
        self._recent: dict[str, deque[tuple[int, str]]] = {}
        #: root → (arrival seq of the contact, agent id) of the latest answered contact
        self._last_agent: dict[str, tuple[int, str]] = {}
        self.history_limit = history_limit

    def __len__(self) -> int:
        """Identities known: what the directory's memory grows with."""
        return len(self._parent)

    def link(self, identities: tuple[str, ...]) -> str | None:
        """Link the identities of one contact; the customer's key (None without any)."""
        if not identities:
            return None
        root = self.find(identities[0])
        for identity in identities[1:]:
            other = self.find(identity)
            if other != root:
                root = self._union(root, other)
        return root

    def find(self, identity: str) -> str:
        parent = self._parent
        root = parent.setdefault(identity, identity)
        while parent[root] != root:
            root = parent[root]
        while identity != root:  # path compression
            parent[identity], identity = root, parent[identity]
        return root

    def remember(self, key: str, seq: int, contact_id: str) -> None:
        root = self.find(key)
        recent = self._recent.get(root)
        if recent is None:
            recent = self._recent[root] = deque(maxlen=self.history_limit + 1)
        recent.append((seq, contact_id))

    def recent(self, key: str) -> list[str]:
        """The customer's recent contact ids, newest first."""
        return [contact_id for _, contact_id in reversed(self._recent.get(self.find(key), ()))]

    def set_last_agent(self, key: str, seq: int, agent_id: str) -> None:
        root = self.find(key)
        known = self._last_agent.get(root)
        if known is None or seq >= known[0]:
            self._last_agent[root] = (seq, agent_id)

    def last_agent(self, key: str | None) -> str | None:
        if key is None:
            return None
        found = self._last_agent.get(self.find(key))
        return found[1] if found else None

    def _union(self, a: str, b: str) -> str:
        # The customer with more history stays the root: less to move.
        if len(self._recent.get(a, ())) < len(self._recent.get(b, ())):
            a, b = b, a
        self._parent[b] = a
        moved = self._recent.pop(b, None)
        if moved:
            merged = heapq.merge(self._recent.get(a, ()), moved)
            self._recent[a] = deque(merged, maxlen=self.history_limit + 1)
        last = self._last_agent.pop(b, None)
        if last is not None:
            self.set_last_agent(a, *last)
        return a
