"""Send a contact to a queue by a keyword in its subject or body.

An example third-party plugin for the router. Installed, it is found through its
entry point (group `router`, name `keyword_router`) and configured in the
router's TOML file:

    [plugins.keyword_router]
    rules = { refund = "billing", "password reset" = "it-support" }

For a contact that names no queue, the plugin picks the queue of the first rule
(in the order written) whose keyword occurs in the subject or the body, ignoring
case, and whose queue exists and takes the contact's channel. Otherwise it passes
(returns None), and the next plugin decides, in the end the built-in queue match.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from router import hookimpl
from router.plugin_api import PluginOption

if TYPE_CHECKING:
    from router.model import Contact, QueueConfig

#: The plugin's name: the entry point name in pyproject.toml, its `[plugins.NAME]`
#: table, and the key of its options in `router_configure`.
PLUGIN_NAME = "keyword_router"

#: (keyword in lower case, queue name), in the order the config lists them.
Rules = tuple[tuple[str, str], ...]


def parse_rules(value: object) -> Rules:
    """Check the `rules` option and turn it into (keyword, queue) pairs.

    The config loader has already checked that `rules` is a table; this checks
    its entries. Raises ValueError naming the option and the bad entry.
    """
    where = f"[plugins.{PLUGIN_NAME}] rules"
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: expected a table, got {type(value).__name__}")
    rules: list[tuple[str, str]] = []
    for keyword, queue in value.items():
        if not isinstance(keyword, str) or not keyword.strip():
            raise ValueError(f"{where}: a keyword must be a non-empty string, got {keyword!r}")
        if not isinstance(queue, str) or not queue:
            raise ValueError(f"{where}: the queue for {keyword!r} must be a queue name")
        rules.append((keyword.casefold(), queue))
    return tuple(rules)


class Plugin:
    """The plugin. It keeps the configured rules, so it is a class: the router
    makes one instance per plugin manager (the daemon, each config of a
    simulation, each test), and their rules never mix."""

    def __init__(self) -> None:
        self.rules: Rules = ()

    @hookimpl
    def router_plugin_options(self) -> Sequence[PluginOption]:
        return [
            PluginOption(
                plugin=PLUGIN_NAME,
                name="rules",
                type=dict,
                default={},
                description="keyword -> queue; the first keyword found in subject or body wins",
            )
        ]

    @hookimpl
    def router_configure(self, options: Mapping[str, Mapping[str, Any]]) -> None:
        # Called at start and on every reload: replace the rules, never add to them.
        own = options.get(PLUGIN_NAME, {})
        self.rules = parse_rules(own.get("rules", {}))

    @hookimpl
    def router_select_queue(self, contact: Contact, queues: Sequence[QueueConfig]) -> str | None:
        if not self.rules:
            return None
        # A newline between the two, so a keyword never matches across subject and body.
        text = f"{contact.subject}\n{contact.body}".casefold()
        usable = {queue.name for queue in queues if contact.channel in queue.channels}
        for keyword, queue_name in self.rules:
            if keyword in text and queue_name in usable:
                return queue_name
        return None
