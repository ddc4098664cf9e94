"""Priority term `complaint`: service recovery for an unhappy customer.

The bonus applies when `attributes.complaint` is truthy, when
`attributes.intent == "complaint"`, or when one of the keywords occurs,
ignoring case, anywhere in the subject or the body (a plain substring test:
"complain" also matches "complaining").

Options (`[plugins.complaint]`):

- `bonus` (float, 5.0): priority points added.
- `keywords` (list of strings, ["complaint", "complain", "unacceptable", "refund",
  "cancel my"]): the words that mark a complaint.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from router import hookimpl
from router.model import lookup
from router.plugin_api import PluginOption
from router_plugins._options import as_float, as_strings, section

if TYPE_CHECKING:
    from router.model import Contact

NAME = "complaint"
DEFAULT_BONUS = 5.0
DEFAULT_KEYWORDS = ("complaint", "complain", "unacceptable", "refund", "cancel my")


@dataclass(frozen=True, slots=True)
class Settings:
    bonus: float = DEFAULT_BONUS
    keywords: tuple[str, ...] = DEFAULT_KEYWORDS  # casefolded


class Plugin:
    """One per plugin manager: its settings are replaced whole by `router_configure`."""

    def __init__(self) -> None:
        self.settings = Settings()

    @hookimpl
    def router_plugin_options(self) -> Sequence[PluginOption]:
        return [
            PluginOption(NAME, "bonus", float, DEFAULT_BONUS, "priority points for a complaint"),
            PluginOption(
                NAME,
                "keywords",
                list,
                list(DEFAULT_KEYWORDS),
                "words in subject or body (any case)",
            ),
        ]

    @hookimpl
    def router_configure(self, options: Mapping[str, Mapping[str, Any]]) -> None:
        own = section(options, NAME)
        keywords = as_strings(NAME, "keywords", own.get("keywords", DEFAULT_KEYWORDS))
        self.settings = Settings(
            bonus=as_float(NAME, "bonus", own.get("bonus", DEFAULT_BONUS)),
            keywords=tuple(dict.fromkeys(word.casefold() for word in keywords)),
        )

    @hookimpl
    def router_priority_terms(self, contact: Contact) -> Mapping[str, float] | None:
        settings = self.settings
        attributes = contact.attributes
        if (
            lookup(attributes, "complaint", None)
            or lookup(attributes, "intent", None) == "complaint"
        ):
            return {NAME: settings.bonus}
        for text in (contact.subject, contact.body):
            if text:
                folded = text.casefold()
                if any(word in folded for word in settings.keywords):
                    return {NAME: settings.bonus}
        return None
