"""Priority term `channel`: live channels go before asynchronous ones.

A customer on the phone is waiting in real time; an e-mail can wait longer.
The term is the configured urgency of the contact's channel, left out when
it is zero.

Options (`[plugins.channel_urgency]`):

- `urgency` (table of channel → float, {voice = 3.0, chat = 2.0, whatsapp = 1.0,
  messenger = 1.0, sms = 1.0, email = 0.0}): priority points per channel. A
  configured table replaces the default one whole; channels not in it get 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from router import hookimpl
from router.model import lookup
from router.plugin_api import PluginOption
from router_plugins._options import as_float_map, section

if TYPE_CHECKING:
    from router.model import Contact

NAME = "channel_urgency"
TERM = "channel"
DEFAULT_URGENCY: Mapping[str, float] = MappingProxyType(
    {"voice": 3.0, "chat": 2.0, "whatsapp": 1.0, "messenger": 1.0, "sms": 1.0, "email": 0.0}
)


@dataclass(frozen=True, slots=True)
class Settings:
    urgency: Mapping[str, float] = field(default_factory=lambda: DEFAULT_URGENCY)


class Plugin:
    """One per plugin manager: its settings are replaced whole by `router_configure`."""

    def __init__(self) -> None:
        self.settings = Settings()

    @hookimpl
    def router_plugin_options(self) -> Sequence[PluginOption]:
        return [
            PluginOption(
                NAME, "urgency", dict, dict(DEFAULT_URGENCY), "priority points per channel name"
            ),
        ]

    @hookimpl
    def router_configure(self, options: Mapping[str, Mapping[str, Any]]) -> None:
        own = section(options, NAME)
        urgency = as_float_map(NAME, "urgency", own.get("urgency", DEFAULT_URGENCY))
        self.settings = Settings(urgency=urgency)

    @hookimpl
    def router_priority_terms(self, contact: Contact) -> Mapping[str, float] | None:
        value = lookup(self.settings.urgency, contact.channel, 0.0)
        return {TERM: value} if value else None
