"""Bearer tokens: the admin's from the config, one per agent issued by the router.

An agent's token is derived from the router's secret key (HMAC of the agent id
and a rotation counter), so `PUT /v1/agents/{id}` can answer the same token
again without the router storing it. What is kept for lookups is only the
token's SHA-256 digest: a copy of the store does not hold a usable token (the
key lives in its own file, readable by the daemon alone). A plain hash suffices
for a random 256-bit token; a slow password hash would only cost every request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import orjson

KEY_BYTES = 32


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sent a request: the admin, or one agent."""

    admin: bool
    agent_id: str | None = None

    def may_act_as(self, agent_id: str) -> bool:
        return self.admin or self.agent_id == agent_id


ADMIN = Caller(admin=True)


def bearer_token(authorization: str | None) -> str | None:
    """The TOKEN of an `Authorization: Bearer TOKEN` header; None for anything else."""
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def load_or_create_key(path: Path) -> bytes:
    """The router's secret key, created (mode 0600) on first start."""
    try:
        key = path.read_bytes()
        if len(key) == KEY_BYTES:
            return key
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(KEY_BYTES)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(key)
    return key


#: the store's name for the token rotation counters (kept with `RouterCore.keep`)
ROTATIONS_KEY = "token_rotations"


class Tokens:
    def __init__(self, admin_token: str | None, key: bytes) -> None:
        self._admin = admin_token or None
        self._key = key
        #: token digest → agent id
        self._agents: dict[str, str] = {}
        #: agent id → (rotation, token digest)
        self._by_agent: dict[str, tuple[int, str]] = {}

    @property
    def admin_configured(self) -> bool:
        return self._admin is not None

    def set_admin(self, admin_token: str | None) -> None:
        self._admin = admin_token or None

    def identify(self, authorization: str | None) -> Caller | None:
        """The caller an `Authorization: Bearer TOKEN` header names; None when it names nobody."""
        token = bearer_token(authorization)
        if token is None:
            return None
        if self._admin is not None and hmac.compare_digest(token.encode(), self._admin.encode()):
            return ADMIN
        agent_id = self._agents.get(token_digest(token))
        return Caller(admin=False, agent_id=agent_id) if agent_id is not None else None

    def token_for(self, agent_id: str) -> str:
        """The agent's current token, created on first use."""
        rotation = self._by_agent.get(agent_id, (0, ""))[0]
        return self._activate(agent_id, rotation)

    def rotate(self, agent_id: str) -> str:
        """A new token for the agent; the old one stops working at once."""
        rotation = self._by_agent.get(agent_id, (-1, ""))[0] + 1
        return self._activate(agent_id, rotation)

    def rotations_after(self, agent_id: str) -> dict[str, int]:
        """Every rotation counter as it will be once `agent_id` is rotated (kept first)."""
        rotations = self.rotations()
        rotations[agent_id] = rotations.get(agent_id, -1) + 1
        return rotations

    def restore(self, kept: Mapping[str, bytes], agent_ids: Iterable[str]) -> None:
        """Every agent's token again, after a restart: derived from the key and the
        rotation counters the store kept (`kept`: the store's named documents)."""
        rotations = orjson.loads(kept[ROTATIONS_KEY]) if ROTATIONS_KEY in kept else {}
        for agent_id in agent_ids:
            self._activate(agent_id, rotations.get(agent_id, 0))

    def rotations(self) -> dict[str, int]:
        """agent id → rotation counter: what the store keeps to re-derive every token."""
        return {agent: rotation for agent, (rotation, _) in self._by_agent.items()}

    def _activate(self, agent_id: str, rotation: int) -> str:
        token = self._derive(agent_id, rotation)
        old = self._by_agent.get(agent_id)
        if old is not None:
            self._agents.pop(old[1], None)
        digest = token_digest(token)
        self._by_agent[agent_id] = (rotation, digest)
        self._agents[digest] = agent_id
        return token

    def _derive(self, agent_id: str, rotation: int) -> str:
        mac = hmac.new(self._key, f"agent\0{agent_id}\0{rotation}".encode(), hashlib.sha256)
        return "agt_" + base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")
