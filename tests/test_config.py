"""The config loader: the example passes, every mistake is named with file and line."""

from __future__ import annotations

import dataclasses
import sys
import textwrap
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from router import hookimpl
from router.config import (
    ConfigError,
    HttpConfig,
    LimitsConfig,
    MqttConfig,
    Problem,
    RouterConfig,
    SmtpConfig,
    StoreConfig,
    load_config,
    load_config_and_plugins,
)
from router.config_queues import ROUTING_KEYS
from router.model import EscalationStep, RoutingSettings
from router.plugin_api import PluginOption
from router.plugins import RouterPlugins, load_plugins

EXAMPLE = Path(__file__).parent.parent / "config" / "router.toml"

QUEUE = """
[[queues]]
name = "support"
channels = ["chat"]
"""

Write = Callable[[str], Path]


@pytest.fixture
def write(tmp_path: Path) -> Write:
    def write(text: str) -> Path:
        path = tmp_path / "router.toml"
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


def problems(path: Path, plugins: RouterPlugins | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={}, plugins=plugins)
    return [str(problem) for problem in caught.value.problems]


def only_problem(path: Path, plugins: RouterPlugins | None = None) -> str:
    found = problems(path, plugins)
    assert len(found) == 1, found
    return found[0]


# -- the example and the defaults ---------------------------------------------
def test_example_config_passes() -> None:
    config = load_config(EXAMPLE, env={})
    assert [q.name for q in config.queues] == [
        "support",
        "sales",
        "billing",
        "complaints",
        "overflow",
    ]
    assert config.http == HttpConfig("127.0.0.1", 8080)
    assert config.mqtt == MqttConfig("mqtt://127.0.0.1:1883", "router")
    assert config.smtp == SmtpConfig("127.0.0.1", 2525)
    assert config.store == StoreConfig(Path("var/router.db"))
    assert config.auth.admin_token is None
    assert set(config.unset_secrets) == {
        "ROUTER_ADMIN_TOKEN",
        "META_APP_SECRET",
        "META_VERIFY_TOKEN",
        "TWILIO_AUTH_TOKEN",
        "CHAT_SITE_TOKEN",
    }
    support = config.engine.queue("support")
    assert support is not None
    assert support.sla_seconds == 20
    assert support.escalation[0] == EscalationStep(after_seconds=30, min_level=1)
    assert support.escalation[1].add_queues == ("overflow",)
    billing = config.engine.queue("billing")
    assert billing is not None
    assert billing.require_language
    assert config.engine.routing.weight("skills") == 2.0
    assert config.plugins.options["vip"] == {"bonus": 10.0, "tiers": ["vip"]}


def test_the_example_names_every_builtin_with_options() -> None:
    config = load_config(EXAMPLE, env={})
    for name in ("vip", "complaint", "channel_urgency", "outcomes"):
        assert name in config.plugins.options


def test_only_queues_are_required(write: Write) -> None:
    config = load_config(write(QUEUE), env={})
    assert config.http == HttpConfig()
    assert config.mqtt.url is None
    assert config.store.path == Path("var/router.db")
    assert config.engine.routing == RoutingSettings()
    assert config.channels == {}
    assert config.limits == LimitsConfig()
    assert config.limits.max_request_bytes == 1_048_576
    assert config.unset_secrets == ()
    queue = config.queues[0]
    assert (queue.min_level, queue.sla_seconds, queue.strategy) == (1, 20.0, "best_score")


def test_routing_reads_every_field_of_routing_settings() -> None:
    # a field added to the model must be added to the loader (and the example) too
    assert set(ROUTING_KEYS) == {f.name for f in dataclasses.fields(RoutingSettings)}


def test_routing_table(write: Write) -> None:
    path = write(
        """
        [routing]
        aging_seconds = 30
        candidate_limit = 8
        exclusive_channels = ["voice", "video"]
        missed_offers_before_away = 0
        reoffer_delay_seconds = 0
        history_per_customer = 3
        finished_contacts_kept = 100
        [routing.weights]
        skills = 3
        idle = 0.5
        """
        + QUEUE
    )
    routing = load_config(path, env={}).engine.routing
    assert routing == RoutingSettings(
        aging_seconds=30.0,
        candidate_limit=8,
        exclusive_channels=("voice", "video"),
        missed_offers_before_away=0,
        reoffer_delay_seconds=0.0,
        history_per_customer=3,
        finished_contacts_kept=100,
        weights={"skills": 3.0, "idle": 0.5},
    )


def test_escalation_steps_are_sorted_by_waiting_time(write: Write) -> None:
    path = write(
        QUEUE
        + """
        [[queues.escalation]]
        after_seconds = 90
        priority_boost = 2
        [[queues.escalation]]
        after_seconds = 30
        min_level = 1
        """
    )
    steps = load_config(path, env={}).queues[0].escalation
    assert [s.after_seconds for s in steps] == [30.0, 90.0]
    assert steps[1].priority_boost == 2.0


# -- secrets ------------------------------------------------------------------
def test_env_secrets_come_from_the_env_argument(write: Write) -> None:
    path = write(
        """
        [mqtt]
        url = "env:MQTT_URL"
        [auth]
        admin_token = "env:ADMIN"
        [channels.meta]
        app_secret = "env:META_SECRET"
        verify_token = "plain"
        nested = { deep = "env:DEEP" }
        """
        + QUEUE
    )
    env = {"ADMIN": "s3cret", "MQTT_URL": "mqtts://u:p@broker:8883", "META_SECRET": "m"}
    config = load_config(path, env=env)
    assert config.auth.admin_token == "s3cret"
    assert config.mqtt.url == "mqtts://u:p@broker:8883"
    assert config.channels["meta"]["app_secret"] == "m"
    assert config.channels["meta"]["verify_token"] == "plain"
    assert config.channels["meta"]["nested"]["deep"] is None
    assert config.unset_secrets == ("DEEP",)


def test_env_secrets_default_to_the_process_environment(
    write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROUTER_TEST_TOKEN", "from-os")
    path = write('[auth]\nadmin_token = "env:ROUTER_TEST_TOKEN"\n' + QUEUE)
    assert load_config(path).auth.admin_token == "from-os"


def test_a_bad_env_reference_is_a_problem(write: Write) -> None:
    path = write('[auth]\nadmin_token = "env:"\n' + QUEUE)
    assert (
        only_problem(path) == f"{path}:2: 'env:' is not a valid env: reference (env:VARIABLE_NAME)"
    )


# -- immutability -------------------------------------------------------------
def test_config_is_frozen() -> None:
    config = load_config(EXAMPLE, env={})
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.http = HttpConfig()  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.http.port = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.channels["meta"]["app_secret"] = "x"  # type: ignore[index]
    with pytest.raises(TypeError):
        config.plugins.options["vip"]["bonus"] = 1.0  # type: ignore[index]
    assert isinstance(config, RouterConfig)


# -- problems, with file and line ---------------------------------------------
def test_unknown_key_with_did_you_mean(write: Write) -> None:
    path = write(QUEUE + QUEUE.replace("support", "sales") + "sla_second = 3\n")
    assert only_problem(path) == (
        f"{path}:9: unknown key 'sla_second' in [[queues]] #2; did you mean 'sla_seconds'?"
    )


def test_unknown_section(write: Write) -> None:
    path = write("[htpp]\nport = 1\n" + QUEUE)
    assert only_problem(path) == (
        f"{path}:1: unknown key 'htpp' in the top-level table; did you mean 'http'?"
    )


@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        ("[http]\nport = '8080'", "'port' in [http] must be an integer, not a string"),
        ("[http]\nport = true", "'port' in [http] must be an integer, not a boolean"),
        ("[http]\nport = 0", "'port' in [http] must be between 1 and 65535, not 0"),
        ("[smtp]\nport = 65536", "'port' in [smtp] must be between 1 and 65535, not 65536"),
        ("[store]\npath = 3", "'path' in [store] must be a string, not an integer"),
        ("[mqtt]\nurl = 'tcp://x'", "'url' in [mqtt] must start with mqtt:// or mqtts://"),
        ("[routing]\naging_seconds = 0", "'aging_seconds' in [routing] must be more than 0, not 0"),
        (
            "[routing]\nexclusive_channels = 'voice'",
            "'exclusive_channels' in [routing] must be an array of strings, not a string",
        ),
        (
            "[routing.weights]\nskills = 'high'",
            "'skills' in [routing.weights] must be a number, not a string",
        ),
        ("[auth]\nadmin_token = 5", "'admin_token' in [auth] must be a string, not an integer"),
        ("[channels]\nmeta = 1", "'meta' in [channels] must be a table [channels.meta], not an"),
        (
            "[limits]\nmax_request_bytes = 0",
            "'max_request_bytes' in [limits] must be between 1 and 2147483648, not 0",
        ),
        (
            "[limits]\nmax_pending_events = 'many'",
            "'max_pending_events' in [limits] must be an integer, not a string",
        ),
    ],
)
def test_wrong_section_values(write: Write, snippet: str, message: str) -> None:
    path = write(snippet + "\n" + QUEUE)
    assert only_problem(path).startswith(f"{path}:2: {message}")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("min_level = 11", "'min_level' in [[queues]] #1 must be between 1 and 10, not 11"),
        ("min_level = 2.5", "'min_level' in [[queues]] #1 must be an integer, not a float"),
        ("priority = 'high'", "'priority' in [[queues]] #1 must be a number, not a string"),
        ("sla_seconds = 0", "'sla_seconds' in [[queues]] #1 must be more than 0, not 0"),
        ("offer_timeout_seconds = -1", "'offer_timeout_seconds' in [[queues]] #1 must be more"),
        ("wrapup_seconds = -1", "'wrapup_seconds' in [[queues]] #1 must be 0 or more, not -1"),
        ("require_language = 1", "'require_language' in [[queues]] #1 must be a boolean"),
        ("skills = [1]", "'skills' in [[queues]] #1 must hold non-empty strings, not an integer"),
        ("sla_seconds = inf", "'sla_seconds' in [[queues]] #1 must be a finite number"),
    ],
)
def test_wrong_queue_values(write: Write, line: str, message: str) -> None:
    path = write(QUEUE + line + "\n")
    assert only_problem(path).startswith(f"{path}:5: {message}")


def test_an_integer_is_fine_where_a_float_is_expected(write: Write) -> None:
    queue = load_config(write(QUEUE + "sla_seconds = 30\npriority = 2\n"), env={}).queues[0]
    assert isinstance(queue.sla_seconds, float)
    assert (queue.sla_seconds, queue.priority) == (30.0, 2.0)


def test_queue_needs_name_and_channels(write: Write) -> None:
    path = write("[[queues]]\nskills = []\n")
    assert problems(path) == [
        f"{path}:1: [[queues]] #1 needs 'name' (the queue's name)",
        f"{path}:1: [[queues]] #1 needs 'channels' (the channels it serves)",
    ]


def test_queue_channels_must_not_be_empty(write: Write) -> None:
    path = write('[[queues]]\nname = "x"\nchannels = []\n')
    assert (
        only_problem(path)
        == f"{path}:3: 'channels' in [[queues]] #1 must name at least one channel"
    )


def test_no_queues(write: Write) -> None:
    path = write("[http]\nport = 8080\n")
    assert only_problem(path) == f"{path}: no queues: add at least one [[queues]] table"


def test_duplicate_queue_name(write: Write) -> None:
    path = write(QUEUE + QUEUE)
    assert only_problem(path) == (
        f"{path}:7: duplicate queue name 'support' in [[queues]] #2 (already used by [[queues]] #1)"
    )


def test_escalation_problems(write: Write) -> None:
    path = write(
        QUEUE
        + QUEUE.replace("support", "overflow")
        + """
        [[queues.escalation]]
        after_seconds = 0
        min_level = 0
        add_queues = ["suport", "overflow"]
        colour = "red"
        """
    )
    label = "[[queues.escalation]] #1 of [[queues]] #2"
    assert problems(path) == [
        f"{path}:11: 'after_seconds' in {label} must be more than 0, not 0",
        f"{path}:12: 'min_level' in {label} must be between 1 and 10, not 0",
        f"{path}:13: 'add_queues' in {label} names unknown queue 'suport'; did you mean 'support'?",
        f"{path}:13: 'add_queues' in {label} names its own queue 'overflow'",
        f"{path}:14: unknown key 'colour' in {label}",
    ]


def test_escalation_needs_after_seconds(write: Write) -> None:
    path = write(QUEUE + "[[queues.escalation]]\nmin_level = 2\n")
    assert only_problem(path) == (
        f"{path}:5: [[queues.escalation]] #1 of [[queues]] #1 needs 'after_seconds'"
        " (how long a contact waits before this step)"
    )


def test_unknown_strategy(write: Write) -> None:
    path = write(QUEUE + 'strategy = "best_scor"\n')
    message = only_problem(path)
    assert message.startswith(
        f"{path}:5: unknown strategy 'best_scor' in [[queues]] #1; did you mean 'best_score'?"
    )
    assert "round_robin" in message


def test_toml_syntax_error_names_its_line(write: Write) -> None:
    path = write(QUEUE + "min_level = = 3\n")
    found = only_problem(path)
    assert found.startswith(f"{path}:5: TOML syntax error: ")


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    assert only_problem(path) == f"{path}: no such file"


def test_problem_format() -> None:
    assert str(Problem("a.toml", 3, "bad")) == "a.toml:3: bad"
    assert str(Problem("a.toml", None, "bad")) == "a.toml: bad"
    error = ConfigError([Problem("a.toml", 3, "bad"), Problem("a.toml", None, "worse")])
    assert str(error) == "a.toml:3: bad\na.toml: worse"


def test_every_problem_is_reported_in_one_pass(write: Write) -> None:
    path = write(
        """
        [http]
        port = 99999

        [[queues]]
        name = "support"
        channels = ["chat"]
        min_level = 0
        sla_second = 3

        [[queues]]
        name = "support"
        channels = ["chat"]

        [plugins.vipp]
        bonus = 1
        """
    )
    found = problems(path)
    assert [p.split(": ", 1)[0] for p in found] == [
        f"{path}:3",
        f"{path}:8",
        f"{path}:9",
        f"{path}:12",
        f"{path}:15",
    ]
    assert "unknown plugin 'vipp' in [plugins.vipp]; did you mean 'vip'?" in found[-1]


# -- plugins ------------------------------------------------------------------
class FakeOptions:
    """A plugin declaring one option of each type the loader knows."""

    @hookimpl
    def router_plugin_options(self) -> Sequence[PluginOption]:
        return [
            PluginOption("fake", "weight", float, 1.5, "a float"),
            PluginOption("fake", "count", int, 3, "an int"),
            PluginOption("fake", "enabled", bool, True, "a bool"),
            PluginOption("fake", "label", str, "x", "a str"),
            PluginOption("fake", "names", list, ["a"], "a list"),
            PluginOption("fake", "table", dict, {"k": 1}, "a dict"),
        ]


class FakeStrategy:
    @hookimpl
    def router_select_agent(self, totals: Sequence[float]) -> int | None:
        return 0 if totals else None


@pytest.fixture(scope="module")
def fakes() -> RouterPlugins:
    extra = [("fake", FakeOptions()), ("coin_flip", FakeStrategy())]
    return load_plugins(extra=extra, entry_points_enabled=False)


def test_plugin_options_defaults_are_filled(write: Write, fakes: RouterPlugins) -> None:
    config = load_config(write(QUEUE), env={}, plugins=fakes)
    assert config.plugins.options["fake"] == {
        "weight": 1.5,
        "count": 3,
        "enabled": True,
        "label": "x",
        "names": ["a"],
        "table": {"k": 1},
    }
    assert config.plugins.options["vip"]["bonus"] == 10.0  # built-ins too


def test_plugin_options_are_read(write: Write, fakes: RouterPlugins) -> None:
    path = write(
        QUEUE
        + """
        [plugins.fake]
        weight = 2
        count = 7
        names = ["b", 3]
        table = {anything = "goes"}
        """
    )
    options = load_config(path, env={}, plugins=fakes).plugins.options["fake"]
    assert options["weight"] == 2.0
    assert isinstance(options["weight"], float)
    assert options["count"] == 7
    assert options["names"] == ["b", 3]  # only the container type is checked
    assert options["table"] == {"anything": "goes"}
    assert options["label"] == "x"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("weight = 'heavy'", "'weight' in [plugins.fake] must be a number, not a string"),
        ("count = true", "'count' in [plugins.fake] must be an integer, not a boolean"),
        ("count = 1.5", "'count' in [plugins.fake] must be an integer, not a float"),
        ("enabled = 1", "'enabled' in [plugins.fake] must be a boolean (true or false), not an"),
        ("label = []", "'label' in [plugins.fake] must be a string, not an array"),
        ("names = 'a'", "'names' in [plugins.fake] must be an array, not a string"),
        ("table = [1]", "'table' in [plugins.fake] must be a table, not an array"),
        ("weigth = 2", "unknown key 'weigth' in [plugins.fake]; did you mean 'weight'?"),
    ],
)
def test_plugin_option_problems(
    write: Write, fakes: RouterPlugins, line: str, message: str
) -> None:
    path = write(QUEUE + "[plugins.fake]\n" + line + "\n")
    assert only_problem(path, fakes).startswith(f"{path}:6: {message}")


def test_unknown_plugin_table(write: Write, fakes: RouterPlugins) -> None:
    path = write(QUEUE + "[plugins.fak]\nweight = 1\n")
    assert only_problem(path, fakes) == (
        f"{path}:5: unknown plugin 'fak' in [plugins.fak]; did you mean 'fake'?"
    )


def test_plugin_without_options(write: Write, fakes: RouterPlugins) -> None:
    path = write(QUEUE + "[plugins.coin_flip]\nodds = 1\n")
    assert only_problem(path, fakes) == (
        f"{path}:6: unknown key 'odds' in [plugins.coin_flip]: the plugin has no options"
    )


def test_plugins_keys_other_than_tables(write: Write, fakes: RouterPlugins) -> None:
    path = write(QUEUE + "[plugins]\npath = []\nverbose = true\n")
    assert problems(path, fakes) == [
        f"{path}:6: unknown key 'path' in [plugins]; did you mean 'paths'?",
        f"{path}:7: 'verbose' in [plugins] must be a table [plugins.verbose] of that plugin's"
        " options, not a boolean",
    ]


def test_strategy_may_be_any_plugin_that_selects_agents(write: Write, fakes: RouterPlugins) -> None:
    path = write(QUEUE + 'strategy = "coin_flip"\n')
    assert load_config(path, env={}, plugins=fakes).queues[0].strategy == "coin_flip"
    assert "unknown strategy 'fake'" in only_problem(write(QUEUE + 'strategy = "fake"\n'), fakes)


PATH_PLUGIN = """
from router import hookimpl
from router.plugin_api import PluginOption

SEEN = []


@hookimpl
def router_plugin_options():
    return [PluginOption("recorder", "level", int, 1, "how loud")]


@hookimpl
def router_configure(options):
    SEEN.append(dict(options["recorder"]))
"""


def test_path_plugins_are_relative_to_the_config_and_configured(tmp_path: Path) -> None:
    folder = tmp_path / "conf"
    (folder / "local").mkdir(parents=True)
    (folder / "local" / "recorder.py").write_text(PATH_PLUGIN, encoding="utf-8")
    path = folder / "router.toml"
    path.write_text(
        QUEUE
        + '[plugins]\npaths = ["local"]\ndisable = ["sticky"]\n[plugins.recorder]\nlevel = 4\n',
        encoding="utf-8",
    )
    config, plugins = load_config_and_plugins(path, env={})
    assert config.plugins.paths == (folder / "local",)
    assert config.plugins.disable == ("sticky",)
    infos = {info.name: info for info in plugins.describe()}
    assert infos["recorder"].origin == f"path: {folder / 'local' / 'recorder.py'}"
    assert "sticky" not in infos
    module: Any = sys.modules["router_local_plugin_recorder"]
    assert module.SEEN[-1] == {"level": 4}


def test_plugin_path_problems(write: Write) -> None:
    path = write(QUEUE + '[plugins]\npaths = ["missing"]\n')
    assert only_problem(path) == (f"{path}:6: plugin path {path.parent / 'missing'} does not exist")


def test_a_broken_plugin_file_is_a_problem(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("raise RuntimeError('boom')\n", encoding="utf-8")
    path = tmp_path / "router.toml"
    path.write_text(QUEUE + '[plugins]\npaths = ["broken.py"]\n', encoding="utf-8")
    message = only_problem(path)
    assert message.startswith(f"{path}:6: cannot load plugins: ")
    assert "boom" in message


def test_disable_names_a_known_plugin(write: Write) -> None:
    path = write(QUEUE + '[plugins]\ndisable = ["stiky"]\n')
    assert only_problem(path) == (
        f"{path}:6: 'disable' in [plugins] names unknown plugin 'stiky'; did you mean 'sticky'?"
    )


def test_options_of_a_disabled_plugin_are_ignored(write: Write) -> None:
    path = write(QUEUE + '[plugins]\ndisable = ["vip"]\n[plugins.vip]\nbonus = 1\n')
    options: Mapping[str, Any] = load_config(path, env={}).plugins.options
    assert "vip" not in options


def test_a_plugin_refusing_its_options_is_a_problem(write: Write) -> None:
    # the type is right (a float), the value is not: only the plugin itself can tell
    path = write(QUEUE + "[plugins.outcomes]\nprior_weight = 0\n")
    load_config(path, env={})  # the declared types alone are fine
    with pytest.raises(ConfigError) as caught:
        load_config_and_plugins(path, env={})
    [problem] = caught.value.problems
    assert problem.line == 6
    assert str(problem).startswith(f"{path}:6: a plugin refused its options: ")
    assert "prior_weight" in problem.message


@pytest.mark.parametrize(
    ("prefix", "message"),
    [
        ("a/#", "'prefix' in [mqtt] must be a topic name without wildcards (+, #)"),
        ("/", "'prefix' in [mqtt] must be a topic name without wildcards (+, #)"),
        ("", "'prefix' in [mqtt] must not be empty"),
    ],
)
def test_mqtt_prefix_problems(write: Write, prefix: str, message: str) -> None:
    path = write(f'[mqtt]\nprefix = "{prefix}"\n' + QUEUE)
    assert only_problem(path) == f"{path}:2: {message}"


def test_mqtt_prefix_trailing_slash_is_dropped(write: Write) -> None:
    path = write('[mqtt]\nprefix = "acme/router/"\n' + QUEUE)
    assert load_config(path, env={}).mqtt.prefix == "acme/router"


def test_plugins_non_table_keys_are_reported_even_when_plugins_fail(write: Write) -> None:
    path = write(QUEUE + '[plugins]\npaths = ["missing"]\npath = 1\n')
    assert [p.split(": ", 1)[1] for p in problems(path)] == [
        f"plugin path {path.parent / 'missing'} does not exist",
        "unknown key 'path' in [plugins]; did you mean 'paths'?",
    ]


def test_repr_shows_no_secrets(write: Write) -> None:
    path = write(
        '[mqtt]\nurl = "mqtt://u:hunter2@host"\n[auth]\nadmin_token = "env:T"\n'
        '[channels.meta]\napp_secret = "env:S"\n' + QUEUE
    )
    config = load_config(path, env={"T": "tok3n", "S": "s3cret"})
    assert config.auth.admin_token == "tok3n"
    for secret in ("hunter2", "tok3n", "s3cret"):
        assert secret not in repr(config)
