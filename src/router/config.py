"""The daemon's config file (CONTRACT 2): read, validated in full, frozen.

`load_config` reads one TOML file, checks every key, and either returns a
`RouterConfig` or raises `ConfigError` listing every problem as
`FILE:LINE: message` (`router check-config` prints them; a refused reload
reports the same). Every section is optional: the daemon runs on the defaults
below plus at least one `[[queues]]` table.

Values of the form `env:NAME` (in `[auth]`, `[channels.*]` and `[mqtt] url`) are
read from the environment. An unset variable gives None and is listed in
`RouterConfig.unset_secrets`: whoever needs the secret decides whether its
absence is fatal.

The pieces live beside this module: `config_reader` (typed getters that
collect problems), `config_lines` (line numbers), `config_queues` (`[routing]`,
`[[queues]]`) and `config_plugins` (`[plugins]`).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from router import config_plugins
from router.config_lines import locate_keys, syntax_error_location
from router.config_queues import read_queues, read_routing
from router.config_reader import ConfigError, Problem, Reader, Table
from router.model import EMPTY_MAPPING, EngineConfig, QueueConfig

if TYPE_CHECKING:
    from router.plugins import RouterPlugins

__all__ = [
    "AuthConfig",
    "ConfigError",
    "HttpConfig",
    "MqttConfig",
    "PluginsConfig",
    "Problem",
    "RouterConfig",
    "SmtpConfig",
    "StoreConfig",
    "load_config",
    "load_config_and_plugins",
]

DEFAULT_CONFIG_PATH = Path("config/router.toml")
TOP_KEYS = (
    "http",
    "mqtt",
    "smtp",
    "store",
    "auth",
    "limits",
    "channels",
    "routing",
    "queues",
    "plugins",
)
PORT_MIN, PORT_MAX = 1, 65535
_MQTT_SCHEMES = ("mqtt://", "mqtts://")
#: how plugins name an option in their errors (router_plugins._options): plugins.NAME.OPTION
_OPTION_REF = re.compile(r"\bplugins\.(\w+)\.(\w+)")


def _empty() -> Mapping[str, Any]:
    # a mapping proxy is unhashable, so dataclasses refuse it as a plain default
    return EMPTY_MAPPING


@dataclass(frozen=True, slots=True)
class HttpConfig:
    host: str = "127.0.0.1"
    port: int = 8080


@dataclass(frozen=True, slots=True)
class MqttConfig:
    #: None: no broker configured (or its `env:` variable unset); MQTT stays off.
    #: Left out of repr: it may carry user:pass@.
    url: str | None = field(default=None, repr=False)
    prefix: str = "router"


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    host: str = "127.0.0.1"
    port: int = 2525


@dataclass(frozen=True, slots=True)
class StoreConfig:
    #: Kept as written. A relative path is relative to the daemon's working directory,
    #: as for any command-line tool: `var/router.db` lands in the checkout it is run from.
    path: Path = Path("var/router.db")
    #: SQLite's PRAGMA synchronous: "full" survives a power cut, "normal" a crash of the
    #: process, "off" leaves it to the OS
    synchronous: str = "full"
    #: days a finished contact stays in the store (lookups, idempotency); 0 keeps them all
    retention_days: float = 30.0


@dataclass(frozen=True, slots=True)
class AuthConfig:
    admin_token: str | None = field(default=None, repr=False)  # a logged config leaks no token


@dataclass(frozen=True, slots=True)
class LimitsConfig:
    """Sizes and backlogs past which input is refused with a clear error, never lost silently."""

    #: HTTP request body (413 above it)
    max_request_bytes: int = 1_048_576
    #: inbound MQTT payload (dead-lettered above it)
    max_mqtt_payload_bytes: int = 262_144
    #: SMTP message (552 above it)
    max_email_bytes: int = 10_485_760
    #: events waiting for the engine; above it HTTP answers 503 with Retry-After
    max_pending_events: int = 10_000


@dataclass(frozen=True, slots=True)
class PluginsConfig:
    #: plugin files or folders, relative paths taken from the config file's folder
    paths: tuple[Path, ...] = ()
    disable: tuple[str, ...] = ()
    #: per plugin name: every option it declares, defaults filled in
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=_empty)


@dataclass(frozen=True, slots=True, kw_only=True)
class RouterConfig:
    source: Path
    http: HttpConfig = field(default_factory=HttpConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    smtp: SmtpConfig = field(default_factory=SmtpConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    #: each `[channels.NAME]` table as written, `env:` secrets resolved
    channels: Mapping[str, Mapping[str, Any]] = field(default_factory=_empty, repr=False)
    plugins: PluginsConfig = field(default_factory=PluginsConfig)
    engine: EngineConfig
    #: names of `env:` variables the config refers to that are not set
    unset_secrets: tuple[str, ...] = ()

    @property
    def queues(self) -> tuple[QueueConfig, ...]:
        return self.engine.queues


def load_config(
    path: Path,
    *,
    env: Mapping[str, str] | None = None,
    plugins: RouterPlugins | None = None,
) -> RouterConfig:
    """Read and validate `path`; raise `ConfigError` with every problem found.

    `env` replaces `os.environ` for `env:` secrets. `plugins` skips loading the
    plugins the config names and validates against these instead (tests, reloads).
    """
    return _load(path, env, plugins, configure=False)[0]


def load_config_and_plugins(
    path: Path, env: Mapping[str, str] | None = None
) -> tuple[RouterConfig, RouterPlugins]:
    """`load_config`, also returning the plugins it loaded, configured with their options.

    A plugin refusing its options in `router_configure` is one more problem.
    """
    return _load(path, env, None, configure=True)


def _load(
    path: Path, env: Mapping[str, str] | None, given: RouterPlugins | None, *, configure: bool
) -> tuple[RouterConfig, RouterPlugins]:
    file = str(path)
    text = _read_text(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message, line = syntax_error_location(exc, text)
        raise ConfigError([Problem(file, line, f"TOML syntax error: {message}")]) from None
    reader = Reader(file, locate_keys(text), os.environ if env is None else env)
    root = reader.table(data, (), "the top-level table")
    root.check_keys(TOP_KEYS)

    sources = config_plugins.read_sources(root, path.parent)
    plugins = given if given is not None else config_plugins.load(reader, sources)
    options: Mapping[str, Mapping[str, Any]] = EMPTY_MAPPING
    strategies = None
    if plugins is not None:
        options = config_plugins.read_options(sources, plugins)
        strategies = config_plugins.strategies(plugins)

    config = RouterConfig(
        source=path,
        http=_read_http(root),
        mqtt=_read_mqtt(root),
        smtp=_read_smtp(root),
        store=_read_store(root),
        auth=_read_auth(root),
        limits=_read_limits(root),
        channels=_read_channels(root),
        plugins=PluginsConfig(paths=sources.paths, disable=sources.disable, options=options),
        engine=EngineConfig(queues=read_queues(root, strategies), routing=read_routing(root)),
        unset_secrets=tuple(reader.unset_secrets),
    )
    if not reader.problems and plugins is not None and configure:
        _configure(reader, plugins, options)
    if reader.problems or plugins is None:
        raise ConfigError(reader.sorted_problems())
    return config, plugins


def _configure(
    reader: Reader, plugins: RouterPlugins, options: Mapping[str, Mapping[str, Any]]
) -> None:
    """Hand the plugins their options; what a plugin refuses becomes a problem.

    The loader checks the declared types only; a plugin checks the contents
    (a positive number, known channel names) and says which option is wrong
    as `plugins.NAME.OPTION`, which also gives the line.
    """
    try:
        plugins.configure(options)
    except Exception as exc:  # any plugin may raise anything; report it, do not crash
        match = _OPTION_REF.search(str(exc))
        where = ("plugins", match.group(1), match.group(2)) if match else ("plugins",)
        detail = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
        reader.problem(where, f"a plugin refused its options: {detail}")


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        message = "no such file"
    except IsADirectoryError:
        message = "is a directory, not a config file"
    except UnicodeDecodeError as exc:
        message = f"not UTF-8 text ({exc.reason} at byte {exc.start})"
    except OSError as exc:
        message = f"cannot read: {exc.strerror or exc}"
    raise ConfigError([Problem(str(path), None, message)])


def _section(root: Table, name: str, keys: tuple[str, ...]) -> Table:
    """The `[name]` table with its keys checked; an empty one when absent (all defaults)."""
    table = root.subtable(name, f"[{name}]") or root.reader.table({}, (name,), f"[{name}]")
    table.check_keys(keys)
    return table


def _port(table: Table, default: int) -> int:
    return table.integer("port", default, low=PORT_MIN, high=PORT_MAX)


def _read_http(root: Table) -> HttpConfig:
    table = _section(root, "http", ("host", "port"))
    default = HttpConfig()
    return HttpConfig(host=table.text("host", default.host), port=_port(table, default.port))


def _read_smtp(root: Table) -> SmtpConfig:
    table = _section(root, "smtp", ("host", "port"))
    default = SmtpConfig()
    return SmtpConfig(host=table.text("host", default.host), port=_port(table, default.port))


def _read_mqtt(root: Table) -> MqttConfig:
    table = _section(root, "mqtt", ("url", "prefix"))
    url = table.optional_secret("url")
    if url is not None and not url.startswith(_MQTT_SCHEMES):
        # the value is not echoed: it may carry a password
        table.fail("url", "'url' in [mqtt] must start with mqtt:// or mqtts://")
    # "router/" and "router" mean the same; topics are built as f"{prefix}/..."
    written = table.text("prefix", MqttConfig().prefix)
    prefix = written.strip("/")
    if written.strip() and (not prefix or any(char in prefix for char in "+#")):
        table.fail("prefix", "'prefix' in [mqtt] must be a topic name without wildcards (+, #)")
    return MqttConfig(url=url, prefix=prefix)


def _read_store(root: Table) -> StoreConfig:
    table = _section(root, "store", ("path", "synchronous", "retention_days"))
    default = StoreConfig()
    synchronous = table.text("synchronous", default.synchronous)
    if synchronous not in _SYNCHRONOUS:
        table.fail(
            "synchronous",
            f"'synchronous' in [store] must be one of {', '.join(_SYNCHRONOUS)},"
            f" not {synchronous!r}",
        )
    return StoreConfig(
        path=Path(table.text("path", str(default.path))),
        synchronous=synchronous,
        retention_days=table.non_negative("retention_days", default.retention_days),
    )


_SYNCHRONOUS = ("full", "normal", "off")


def _read_auth(root: Table) -> AuthConfig:
    table = _section(root, "auth", ("admin_token",))
    return AuthConfig(admin_token=table.optional_secret("admin_token"))


def _read_limits(root: Table) -> LimitsConfig:
    default = LimitsConfig()
    keys = ("max_request_bytes", "max_mqtt_payload_bytes", "max_email_bytes", "max_pending_events")
    table = _section(root, "limits", keys)
    values = {key: table.integer(key, getattr(default, key), low=1, high=2**31) for key in keys}
    return LimitsConfig(**values)


def _read_channels(root: Table) -> Mapping[str, Mapping[str, Any]]:
    # the keys of `[channels.NAME]` belong to that channel's code; only secrets are resolved
    table = root.subtable("channels", "[channels]")
    if table is None:
        return EMPTY_MAPPING
    channels: dict[str, Mapping[str, Any]] = {}
    for name, value in table.data.items():
        if not isinstance(value, dict):
            table.wrong_type(name, f"a table [channels.{name}]", value)
            continue
        resolved = table.reader.resolve_secrets(value, table.at(name))
        channels[name] = _read_only(resolved)
    return MappingProxyType(channels)


def _read_only(value: Any) -> Any:
    """Nested tables as mapping proxies, so a frozen config cannot be changed through them."""
    if isinstance(value, dict):
        return MappingProxyType({key: _read_only(item) for key, item in value.items()})
    return value
