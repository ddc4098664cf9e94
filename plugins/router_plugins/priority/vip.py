"""Priority term `vip`: a bonus for customers of a premium tier.

Options (`[plugins.vip]`):

- `bonus` (float, 10.0): priority points added.
- `tiers` (list of strings, ["vip"]): the `customer.tier` values that get the bonus.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from router import hookimpl
from router.plugin_api import PluginOption
from router_plugins._options import as_float, as_strings, section

if TYPE_CHECKING:
    from router.model import Contact

NAME = "vip"
DEFAULT_BONUS = 10.0
DEFAULT_TIERS = ("vip",)


@dataclass(frozen=True, slots=True)
class Settings:
    bonus: float = DEFAULT_BONUS
    tiers: frozenset[str] = frozenset(DEFAULT_TIERS)


class Plugin:
    """One per plugin manager: its settings are replaced whole by `router_configure`."""

    def __init__(self) -> None:
        self.settings = Settings()

    @hookimpl
    def router_plugin_options(self) -> Sequence[PluginOption]:
        return [
            PluginOption(NAME, "bonus", float, DEFAULT_BONUS, "priority points for a listed tier"),
            PluginOption(
                NAME, "tiers", list, list(DEFAULT_TIERS), "customer tiers that get the bonus"
            ),
        ]

    @hookimpl
    def router_configure(self, options: Mapping[str, Mapping[str, Any]]) -> None:
        own = section(options, NAME)
        self.settings = Settings(
            bonus=as_float(NAME, "bonus", own.get("bonus", DEFAULT_BONUS)),
            tiers=frozenset(as_strings(NAME, "tiers", own.get("tiers", DEFAULT_TIERS))),
        )

    @hookimpl
    def router_priority_terms(self, contact: Contact) -> Mapping[str, float] | None:
        settings = self.settings
        if contact.customer.tier in settings.tiers:
            return {NAME: settings.bonus}
        return None
