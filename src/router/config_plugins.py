"""The `[plugins]` table: where plugins come from, which are off, and their own options.

Each plugin declares its options (`router_plugin_options`), so the options can
only be checked once the plugins are loaded: paths and `disable` are read
first, then the plugins loaded, then every `[plugins.NAME]` table checked
against what plugin NAME declared.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from router.config_reader import Reader, Table, did_you_mean, type_name
from router.plugins import (
    BUILTIN_PLUGINS,
    ENTRY_POINT_GROUP,
    PluginLoadError,
    RouterPlugins,
    builtin_name,
    load_plugins,
)

if TYPE_CHECKING:
    from router.plugin_api import PluginOption

PLUGINS_KEYS = ("paths", "disable")
SELECT_AGENT_HOOK = "router_select_agent"

_TYPE_WORDS: Mapping[type, str] = {
    bool: "a boolean (true or false)",
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "an array",
    dict: "a table",
}


@dataclass(frozen=True, slots=True)
class PluginSources:
    """`paths` (relative to the config file's folder) and `disable`, as written."""

    section: Table | None
    paths: tuple[Path, ...]
    disable: tuple[str, ...]


def read_sources(root: Table, config_dir: Path) -> PluginSources:
    section = root.subtable("plugins", "[plugins]")
    if section is None:
        return PluginSources(None, (), ())
    for name, value in section.data.items():
        if name not in PLUGINS_KEYS and not isinstance(value, dict):
            _not_a_table(section, name, value)
    # a plugin folder sits beside the config that names it, wherever the daemon is started
    paths = tuple(config_dir / Path(p).expanduser() for p in section.strings("paths"))
    return PluginSources(section, paths, section.strings("disable"))


def load(reader: Reader, sources: PluginSources) -> RouterPlugins | None:
    """Load the plugins the config asks for; None (with problems recorded) when that fails."""
    where = ("plugins", "paths")
    missing = [i for i, path in enumerate(sources.paths) if not path.exists()]
    for index in missing:
        reader.problem((*where, index), f"plugin path {sources.paths[index]} does not exist")
    if missing:
        return None
    try:
        plugins = load_plugins(sources.paths, sources.disable)
    except (PluginLoadError, ImportError) as exc:
        # an ImportError escapes load_plugins when a built-in module is missing or broken
        reader.problem(where, f"cannot load plugins: {exc}")
        return None
    _check_disable(reader, sources, {info.name for info in plugins.describe()})
    return plugins


def _check_disable(reader: Reader, sources: PluginSources, loaded: Collection[str]) -> None:
    """Every disabled name must be a plugin that exists: a typo would leave it switched on."""
    known = set(loaded) | {builtin_name(m) for m in BUILTIN_PLUGINS}
    known |= {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}
    for path in sources.paths:
        files = sorted(path.glob("*.py")) if path.is_dir() else [path]
        known |= {file.stem for file in files}
    for index, name in enumerate(sources.disable):
        if name not in known:
            hint = did_you_mean(name, known)
            reader.problem(
                ("plugins", "disable", index),
                f"'disable' in [plugins] names unknown plugin {name!r}{hint}",
            )


def strategies(plugins: RouterPlugins) -> set[str]:
    """Names a queue's `strategy` may take: plugins that pick agents."""
    return {info.name for info in plugins.describe() if SELECT_AGENT_HOOK in info.hooks}


def read_options(sources: PluginSources, plugins: RouterPlugins) -> Mapping[str, Mapping[str, Any]]:
    """Every declared option of every plugin, defaults filled, `[plugins.NAME]` applied."""
    declared: dict[str, dict[str, PluginOption]] = {}
    for option in plugins.plugin_options():
        declared.setdefault(option.plugin, {})[option.name] = option
    # defaults are copied: a plugin that changes its list must not change the next reload's
    values = {
        plugin: {name: copy.deepcopy(option.default) for name, option in own.items()}
        for plugin, own in declared.items()
    }
    if sources.section is not None:
        known = {info.name for info in plugins.describe()} | set(declared)
        _read_tables(sources.section, sources.disable, known, declared, values)
    return MappingProxyType({name: MappingProxyType(own) for name, own in values.items()})


def _read_tables(
    section: Table,
    disable: Collection[str],
    known: Collection[str],
    declared: Mapping[str, Mapping[str, PluginOption]],
    values: dict[str, dict[str, Any]],
) -> None:
    for name, value in section.data.items():
        if name in PLUGINS_KEYS or not isinstance(value, dict) or name in disable:
            # not a table: reported by `read_sources`; the options of a disabled plugin
            # may stay in the file for when it is enabled again
            continue
        if name not in known:
            hint = did_you_mean(name, known)
            section.fail(name, f"unknown plugin {name!r} in [plugins.{name}]{hint}")
        else:
            table = section.reader.table(value, ("plugins", name), f"[plugins.{name}]")
            values.setdefault(name, {}).update(_read_table(table, declared.get(name, {})))


def _not_a_table(section: Table, name: str, value: object) -> None:
    hint = did_you_mean(name, PLUGINS_KEYS)
    if hint:
        section.fail(name, f"unknown key {name!r} in [plugins]{hint}")
    else:
        section.fail(
            name,
            f"{name!r} in [plugins] must be a table [plugins.{name}] of that plugin's"
            f" options, not {type_name(value)}",
        )


def _read_table(table: Table, declared: Mapping[str, PluginOption]) -> dict[str, Any]:
    if not declared:
        for key in table.data:
            table.fail(key, f"unknown key {key!r} in {table.label}: the plugin has no options")
        return {}
    table.check_keys(declared)
    values: dict[str, Any] = {}
    for key, value in table.data.items():
        option = declared.get(key)
        if option is None:
            continue
        checked = _option_value(table, key, value, option.type)
        if checked is not _WRONG:
            values[key] = checked
    return values


_WRONG = object()


def _option_value(table: Table, key: str, value: object, expected: type) -> object:
    """The value if it has the declared type (an integer is fine for a float), else `_WRONG`.

    For `list` and `dict` only the container is checked: what goes inside is the
    plugin's own business.
    """
    if expected is float:
        number = table.as_number(key, value)
        return _WRONG if number is None else number
    # bool is a subclass of int, but `true` is no answer to "how many"
    wrong_bool = isinstance(value, bool) and expected is not bool
    if wrong_bool or not isinstance(value, expected):
        table.wrong_type(key, _TYPE_WORDS.get(expected, f"a {expected.__name__}"), value)
        return _WRONG
    return value
