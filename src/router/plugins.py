"""The plugin manager: built per instance, never at import time.

Load order: plugin files from the config's folders, then entry points of the
group `router` (minus the config's `disable` list), then the built-ins in a
fixed order, then `check_pending()` so a misspelt hook fails loudly. Built-ins that answer
a first-result hook are fallbacks marked `trylast`, so a third-party plugin
answers before them.

A plugin with state defines `class Plugin` in its module; each plugin manager
gets its own instance `Plugin()`, registered under the module's name, so two
managers in one process never share settings or memory. A module without
`Plugin` is registered as it is.

`RouterPlugins` is the typed facade the core calls: one method per hook.
The hooks the engine calls for every contact go straight to their
implementations (`_DirectHook`), in pluggy's order and with pluggy's results,
without its per-call machinery; a hook with a wrapper keeps pluggy's call.
"""

from __future__ import annotations

import copy
import importlib
import importlib.util
import sys
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pluggy

from router import hookspecs

if TYPE_CHECKING:
    from router.model import Contact, QueueConfig, RouterEvent
    from router.plugin_api import AgentView, ContactView, PluginOption, RoutingContext

PROJECT = "router"
ENTRY_POINT_GROUP = "router"

#: The built-in plugins, registered in this order through the same hooks as any other.
BUILTIN_PLUGINS: tuple[str, ...] = (
    "router_plugins.channels.email",
    "router_plugins.channels.twilio",
    "router_plugins.channels.meta",
    "router_plugins.channels.normalized",
    "router_plugins.queues.queue_match",
    "router_plugins.priority.vip",
    "router_plugins.priority.complaint",
    "router_plugins.priority.channel_urgency",
    "router_plugins.scoring.skills",
    "router_plugins.scoring.idle",
    "router_plugins.scoring.occupancy",
    "router_plugins.scoring.sticky",
    "router_plugins.scoring.outcomes",
    "router_plugins.scoring.language",
    "router_plugins.strategies.round_robin",
    "router_plugins.strategies.best_score",
)


class PluginLoadError(Exception):
    """A plugin could not be imported or implements a hook that does not exist."""


@dataclass(frozen=True, slots=True)
class PluginInfo:
    name: str
    origin: str  # "built-in" | "entry point" | "path: FILE"
    hooks: tuple[str, ...]


class _DirectHook:
    """One hook's implementations, called the way pluggy calls them, minus its machinery.

    pluggy spends about as long per call as the built-in scoring plugins do on 16
    candidates (argument checks, the wrapper protocol, a result object); the engine
    calls these hooks for every contact. Same order (pluggy's, last registered or
    `tryfirst` first), same arguments (each implementation gets the ones it names),
    None results left out, `first` stops at the first answer. Built once the plugins
    are loaded: the manager is not changed after `load_plugins`. A hook with a wrapper
    or an implementation with optional arguments is left to pluggy.
    """

    def __init__(self, caller: pluggy.HookCaller, names: tuple[str, ...]) -> None:
        """`names`: the hook's arguments, in the order `all` and `first` take them."""
        spec = caller.spec
        if spec is None or set(spec.argnames) != set(names):
            raise ValueError(f"{caller.name} takes {spec and spec.argnames}, not {names}")
        self._caller = caller
        self._names = names
        impls = caller.get_hookimpls()
        self.direct = not any(i.hookwrapper or i.wrapper or i.kwargnames for i in impls)
        #: (function, where its arguments sit among `names`, None for all of them in
        #: order), in calling order: the arguments are passed on without a keyword dict
        self._calls: list[tuple[Callable[..., Any], tuple[int, ...] | None]] = [
            (_unforwarded(impl.function), _positions(impl.argnames, names))
            for impl in reversed(impls)
        ]
        #: some plugin implements the hook (an attribute, not `__bool__`: read per event)
        self.implemented = bool(impls)

    def all(self, *args: Any) -> list[Any]:
        """Every implementation's answer that is not None (a non-first-result hook)."""
        if not self.direct:
            return list(self._caller(**dict(zip(self._names, args, strict=True))))
        results = []
        for function, positions in self._calls:
            result = _call(function, args, positions)
            if result is not None:
                results.append(result)
        return results

    def first(self, *args: Any) -> Any:
        """The first answer that is not None (a first-result hook), or None."""
        if not self.direct:
            return self._caller(**dict(zip(self._names, args, strict=True)))
        for function, positions in self._calls:
            result = _call(function, args, positions)
            if result is not None:
                return result
        return None


def _unforwarded(function: Callable[..., Any]) -> Callable[..., Any]:
    """The compiled function behind `router.hookimpl`'s forwarder (bound to the same
    plugin instance), else the function itself: one interpreted call less per hook call."""
    target = getattr(function, "__func__", function)
    compiled = getattr(target, "__router_compiled__", None)
    if compiled is None:
        return function
    instance = getattr(function, "__self__", None)
    return compiled if instance is None else types.MethodType(compiled, instance)


def _call(
    function: Callable[..., Any], args: tuple[Any, ...], positions: tuple[int, ...] | None
) -> Any:
    """`function` with the arguments at `positions` (None: all of them).

    Up to three spelt out: compiled, a call with a fixed number of arguments passes
    them as they are, where `function(*[...])` builds a list and then a tuple."""
    if positions is None:
        return function(*args)
    count = len(positions)
    if count == 1:
        return function(args[positions[0]])
    if count == 2:
        return function(args[positions[0]], args[positions[1]])
    if count == 3:
        return function(args[positions[0]], args[positions[1]], args[positions[2]])
    return function(*[args[i] for i in positions])


def _positions(wanted: Sequence[str], names: tuple[str, ...]) -> tuple[int, ...] | None:
    """Where an implementation's arguments sit among the hook's; None when it takes
    them all, in the same order (the call passes them on as they are)."""
    if tuple(wanted) == names:
        return None
    return tuple(names.index(name) for name in wanted)


class RouterPlugins:
    """A loaded set of plugins, with one typed method per hook."""

    def __init__(self, pm: pluggy.PluginManager, origins: Mapping[str, str]) -> None:
        self.pm = pm
        self._origins = dict(origins)
        hook = pm.hook
        # every contact taken in: HTTP, MQTT, webhooks, e-mail
        self._parse_contact = _DirectHook(
            hook.router_parse_contact, ("channel", "payload", "contact_id")
        )
        self._select_queue = _DirectHook(hook.router_select_queue, ("contact", "queues"))
        self._priority_terms = _DirectHook(hook.router_priority_terms, ("contact", "queue"))
        self._score_agents = _DirectHook(
            hook.router_score_agents, ("contact", "queue", "candidates", "context")
        )
        self._select_agent = _DirectHook(
            hook.router_select_agent, ("contact", "queue", "candidates", "totals", "context")
        )
        # Every state change goes through `event`; nothing is called when nobody listens.
        self._event = _DirectHook(hook.router_event, ("event",))

    # -- introspection -------------------------------------------------
    def describe(self) -> list[PluginInfo]:
        infos = []
        for name, plugin in self.pm.list_name_plugin():
            if plugin is None:
                continue
            hooks = tuple(sorted(caller.name for caller in self.pm.get_hookcallers(plugin) or ()))
            infos.append(PluginInfo(name=name, origin=self._origins.get(name, "?"), hooks=hooks))
        return infos

    # -- the hooks, typed ----------------------------------------------
    def plugin_options(self) -> list[PluginOption]:
        return [opt for opts in self.pm.hook.router_plugin_options() for opt in opts]

    def default_options(self) -> dict[str, dict[str, Any]]:
        """Every declared option at its default, by plugin: what an empty config means."""
        options: dict[str, dict[str, Any]] = {}
        for option in self.plugin_options():
            options.setdefault(option.plugin, {})[option.name] = copy.deepcopy(option.default)
        return options

    def configure(self, options: Mapping[str, Mapping[str, Any]]) -> None:
        self.pm.hook.router_configure(options=options)

    def parse_contact(
        self, channel: str, payload: Mapping[str, Any], contact_id: str
    ) -> Contact | None:
        result: Contact | None = self._parse_contact.first(channel, payload, contact_id)
        return result

    def select_queue(self, contact: Contact, queues: Sequence[QueueConfig]) -> str | None:
        result: str | None = self._select_queue.first(contact, queues)
        return result

    def priority_terms(self, contact: Contact, queue: QueueConfig) -> dict[str, float]:
        merged: dict[str, float] = {}
        for terms in self._priority_terms.all(contact, queue):
            if terms:
                # as a dict (what plugins return): compiled, a Mapping's `items()` is a
                # method found by name, a dict's are read in place
                named = terms if isinstance(terms, dict) else dict(terms)
                for name, value in named.items():
                    merged[name] = merged.get(name, 0.0) + value
        return merged

    def score_agents(
        self,
        contact: ContactView,
        queue: QueueConfig,
        candidates: Sequence[AgentView],
        context: RoutingContext,
    ) -> list[Mapping[str, Sequence[float]]]:
        results: list[Mapping[str, Sequence[float]]] = self._score_agents.all(
            contact, queue, candidates, context
        )
        return [r for r in results if r]

    def select_agent(
        self,
        contact: ContactView,
        queue: QueueConfig,
        candidates: Sequence[AgentView],
        totals: Sequence[float],
        context: RoutingContext,
    ) -> int | None:
        result: int | None = self._select_agent.first(contact, queue, candidates, totals, context)
        return result

    def event(self, event: RouterEvent) -> None:
        if self._event.implemented:
            self._event.all(event)


def load_plugins(
    paths: Iterable[Path] = (),
    disable: Iterable[str] = (),
    *,
    entry_points_enabled: bool = True,
    extra: Iterable[tuple[str, object]] = (),
) -> RouterPlugins:
    """Build a fresh plugin manager: path plugins, entry points, built-ins, then check.

    `paths` are `.py` files or folders of them. `disable` names plugins not to
    register (built-ins included). `extra` registers ready-made plugin objects
    (tests, embedding) with the origin "extra".
    """
    blocked = set(disable)
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    origins: dict[str, str] = {}

    def register(name: str, plugin: object, origin: str) -> None:
        if name in blocked or pm.has_plugin(name):
            return
        try:
            pm.register(plugin, name=name)
        except (ValueError, pluggy.PluginValidationError) as exc:
            # a name clash, or a hook implementation whose arguments the spec lacks
            reason = "; ".join(str(exc).splitlines())  # one problem, one line
            raise PluginLoadError(f"plugin {name} ({origin}): {reason}") from exc
        origins[name] = origin

    def register_module(name: str, module: object, origin: str) -> None:
        # checked first, so a disabled or shadowed module's `Plugin` is never instantiated
        if name in blocked or pm.has_plugin(name):
            return
        register(name, _plugin_object(name, module, origin), origin)

    for name, plugin in extra:
        register(name, plugin, "extra")
    for file in _plugin_files(paths):
        register_module(file.stem, _import_file(file), f"path: {file}")
    if entry_points_enabled:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in blocked:
                continue
            try:
                loaded = ep.load()
            except Exception as exc:
                raise PluginLoadError(f"entry point {ep.name} ({ep.value}): {exc}") from exc
            register_module(ep.name, loaded, "entry point")
    for module_name in BUILTIN_PLUGINS:
        module = importlib.import_module(module_name)
        register_module(builtin_name(module_name), module, "built-in")
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginLoadError("; ".join(str(exc).splitlines())) from exc
    return RouterPlugins(pm, origins)


def builtin_name(module_name: str) -> str:
    """`router_plugins.scoring.idle` → `idle`: the name used in config and `disable`."""
    return module_name.rsplit(".", 1)[-1]


def _plugin_object(name: str, plugin: object, origin: str) -> object:
    """A fresh `module.Plugin()` when a module defines that class; anything else as it is."""
    if not isinstance(plugin, ModuleType):
        return plugin
    factory = getattr(plugin, "Plugin", None)
    if not isinstance(factory, type):
        return plugin
    try:
        return factory()
    except Exception as exc:
        raise PluginLoadError(
            f"plugin {name} ({origin}): Plugin() failed: {type(exc).__name__}: {exc}"
        ) from exc


def _plugin_files(paths: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.glob("*.py") if not p.name.startswith("_")))
        elif path.is_file():
            files.append(path)
        else:
            raise PluginLoadError(f"plugin path {path} does not exist")
    return files


def _import_file(file: Path) -> ModuleType:
    module_name = f"router_local_plugin_{file.stem}"
    spec = importlib.util.spec_from_file_location(module_name, file)
    if spec is None or spec.loader is None:
        raise PluginLoadError(f"plugin file {file} cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[module_name]
        raise PluginLoadError(f"plugin file {file}: {type(exc).__name__}: {exc}") from exc
    return module
