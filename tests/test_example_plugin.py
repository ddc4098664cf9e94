"""The third-party plugin in examples/router-plugin-example, installed and found by entry point.

`scripts/test` installs it (`pip install -e examples/router-plugin-example`); these
tests check that the router loads it like any other distribution, that `disable`
leaves it out, and that its queue choice comes before the built-in `queue_match`.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import entry_points

import pytest

from router.model import Contact, EngineConfig, QueueConfig
from router.plugins import RouterPlugins, load_plugins
from router.testing import RouterHarness

NAME = "keyword_router"
INSTALL_HINT = "install it: .venv/bin/pip install -e examples/router-plugin-example"

# `support` comes first, so the built-in queue_match picks it for any chat or
# e-mail; only the plugin can send a chat to `billing`.
QUEUES = (
    QueueConfig(name="support", channels=("chat", "email")),
    QueueConfig(name="billing", channels=("chat",)),
    QueueConfig(name="sales", channels=("chat",)),
)


def chat(subject: str = "", body: str = "", channel: str = "chat") -> Contact:
    return Contact(id="c1", channel=channel, subject=subject, body=body)


def configure(plugins: RouterPlugins, rules: dict[str, object]) -> None:
    plugins.configure({NAME: {"rules": rules}})


def reset(plugins: RouterPlugins) -> None:
    """Leave every plugin of this manager at its defaults."""
    defaults: dict[str, dict[str, object]] = {}
    for option in plugins.plugin_options():
        defaults.setdefault(option.plugin, {})[option.name] = option.default
    plugins.configure(defaults)


@pytest.fixture
def plugins() -> Iterator[RouterPlugins]:
    loaded = load_plugins()
    yield loaded
    reset(loaded)


def test_entry_point_is_installed() -> None:
    found = entry_points(group="router", name=NAME)
    assert found, f"no entry point {NAME!r} in group 'router'; {INSTALL_HINT}"
    (entry_point,) = found
    assert entry_point.value == "router_keyword_router"


def test_loaded_from_its_entry_point(plugins: RouterPlugins) -> None:
    infos = {info.name: info for info in plugins.describe()}
    assert NAME in infos, f"{NAME} not loaded; {INSTALL_HINT}"
    assert infos[NAME].origin == "entry point"
    assert infos[NAME].hooks == (
        "router_configure",
        "router_plugin_options",
        "router_select_queue",
    )


def test_declares_its_rules_option(plugins: RouterPlugins) -> None:
    own = [option for option in plugins.plugin_options() if option.plugin == NAME]
    assert [(o.name, o.type, o.default) for o in own] == [("rules", dict, {})]
    assert own[0].description


def test_keyword_picks_the_queue_before_the_builtin_match(plugins: RouterPlugins) -> None:
    configure(plugins, {"refund": "billing"})
    assert plugins.select_queue(chat(subject="Refund please"), QUEUES) == "billing"


def test_without_a_keyword_the_builtin_match_decides(plugins: RouterPlugins) -> None:
    configure(plugins, {"refund": "billing"})
    contact = chat(subject="Where is my parcel?")
    keyword_router = plugins.pm.get_plugin("keyword_router")
    assert keyword_router.router_select_queue(contact=contact, queues=QUEUES) is None
    assert plugins.select_queue(contact, QUEUES) == "support"


def test_keyword_in_the_body_any_case(plugins: RouterPlugins) -> None:
    configure(plugins, {"Refund": "billing"})
    assert plugins.select_queue(chat(body="I want a REFUND now"), QUEUES) == "billing"


def test_keyword_does_not_match_across_subject_and_body(plugins: RouterPlugins) -> None:
    configure(plugins, {"order status": "sales"})
    contact = chat(subject="my order", body="status unknown")
    assert plugins.select_queue(contact, QUEUES) == "support"


def test_first_rule_in_config_order_wins(plugins: RouterPlugins) -> None:
    contact = chat(subject="refund for my order")
    configure(plugins, {"refund": "billing", "order": "sales"})
    assert plugins.select_queue(contact, QUEUES) == "billing"
    configure(plugins, {"order": "sales", "refund": "billing"})
    assert plugins.select_queue(contact, QUEUES) == "sales"


def test_rule_for_a_queue_that_cannot_take_the_contact_is_skipped(
    plugins: RouterPlugins,
) -> None:
    configure(plugins, {"refund": "nowhere", "please": "billing"})
    assert plugins.select_queue(chat(subject="refund please"), QUEUES) == "billing"
    # billing takes no e-mail: the built-in match decides
    email = chat(subject="refund please", channel="email")
    assert plugins.select_queue(email, QUEUES) == "support"


def test_reload_replaces_the_rules(plugins: RouterPlugins) -> None:
    configure(plugins, {"refund": "billing"})
    configure(plugins, {})
    assert plugins.select_queue(chat(subject="Refund please"), QUEUES) == "support"


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({"refund": 3}, "the queue for 'refund' must be a queue name"),
        ({"refund": ""}, "the queue for 'refund' must be a queue name"),
        ({" ": "billing"}, "a keyword must be a non-empty string"),
    ],
)
def test_bad_rules_are_refused(
    plugins: RouterPlugins, rules: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        configure(plugins, rules)


def test_disable_leaves_it_out() -> None:
    plugins = load_plugins(disable=[NAME])
    assert NAME not in {info.name for info in plugins.describe()}
    try:
        configure(plugins, {"refund": "billing"})  # reaches the built-ins only
        assert plugins.select_queue(chat(subject="Refund please"), QUEUES) == "support"
    finally:
        reset(plugins)


def test_end_to_end_on_the_engine(router_engine: RouterHarness) -> None:
    harness = router_engine.harness(
        config=EngineConfig(queues=QUEUES),
        entry_points=True,
        options={NAME: {"rules": {"refund": "billing"}}},
    )
    try:
        harness.add_agent("a1", capacity={"chat": 1})
        harness.arrive(channel="chat", subject="Refund please")
        harness.arrive(channel="chat", subject="Hello")
        assert [event.queue for event in harness.events("queued")] == ["billing", "support"]
        assert harness.offers[0].offer.queue == "billing"
    finally:
        reset(harness.plugins)


def test_two_plugin_managers_keep_their_own_rules() -> None:
    first, second = load_plugins(), load_plugins()
    configure(first, {"refund": "billing"})
    configure(second, {})
    contact = chat(subject="Refund please")
    assert first.select_queue(contact, QUEUES) == "billing"
    assert second.select_queue(contact, QUEUES) == "support"
