"""Which modules the build compiles with mypyc, and a guard against a stale build.

The engine, the model, the plugin facade, the built-in routing plugins and the
simulator's loop run once or more per contact; compiled to C by mypyc (from the
same typed source), they take about a third of the time. `setup.py` reads `COMPILED` from this file;
`ROUTER_PURE_PYTHON=1` at install time builds nothing and everything runs as
plain Python, with the same behaviour.

An editable install (`pip install -e .`) puts each compiled module beside its
source, where Python prefers it: a source edited after the build would silently
not run. `check_fresh` refuses that at import, with the command that rebuilds.
"""

from __future__ import annotations

import importlib.machinery
from pathlib import Path

COMPILED: tuple[str, ...] = (
    "router.value",
    "router.model",
    # every contact taken in over HTTP, MQTT or a webhook is parsed by it
    "router.contact_json",
    "router.plugin_api",
    "router.plugins",
    "router.engine.available",
    "router.engine.changes",
    "router.engine.core",
    "router.engine.customers",
    "router.engine.effects",
    "router.engine.events",
    "router.engine.invariants",
    "router.engine.matching",
    "router.engine.records",
    "router.engine.restore",
    "router.engine.stats",
    "router.engine.timers",
    "router.engine.waiting",
    "router.sim.agents",
    "router.sim.arrivals",
    "router.sim.distributions",
    "router.sim.run",
    "router.sim.tally",
    # the store's encoding, which runs for every batch the daemon commits
    "router.store.base",
    "router.store.codec",
    # the built-in plugins the engine calls for every decision (`router.hookimpl` marks
    # compiled functions too); the channel plugins parse one message each and stay plain
    "router_plugins._options",
    "router_plugins.priority.channel_urgency",
    "router_plugins.priority.complaint",
    "router_plugins.priority.vip",
    "router_plugins.queues.queue_match",
    "router_plugins.scoring.idle",
    "router_plugins.scoring.language",
    "router_plugins.scoring.occupancy",
    "router_plugins.scoring.outcomes",
    "router_plugins.scoring.skills",
    "router_plugins.scoring.sticky",
    "router_plugins.strategies.best_score",
    "router_plugins.strategies.round_robin",
)
#: the shared library mypyc puts the compiled code in (`router/compiled__mypyc.*.so`)
GROUP = "router.compiled"

_PACKAGE = Path(__file__).resolve().parent


def _in_source_tree(package: Path) -> bool:
    return package.parent.name == "src" and (package.parents[1] / "pyproject.toml").exists()


def built_files(module: str, package: Path = _PACKAGE) -> tuple[Path, list[Path]]:
    """A compiled module's source file and the extension files built from it, if any."""
    root = package.parent  # installed, `router` and `router_plugins` sit side by side
    if not module.startswith("router.") and _in_source_tree(package):
        root = package.parents[1] / "plugins"
    base = root.joinpath(*module.split("."))
    return base.with_suffix(".py"), [
        built
        for suffix in importlib.machinery.EXTENSION_SUFFIXES
        if (built := base.parent / (base.name + suffix)).exists()
    ]


def is_compiled() -> bool:
    """Whether this install runs the compiled modules (for logs and benchmark reports)."""
    return bool(built_files("router.engine.core")[1])


def check_fresh(package: Path = _PACKAGE) -> None:
    """Refuse to import a source tree whose compiled modules are older than their sources."""
    if not _in_source_tree(package):
        return  # an installed wheel: its files' times say nothing about which came first
    for module in COMPILED:
        source, built = built_files(module, package)
        if built and source.exists() and source.stat().st_mtime > built[0].stat().st_mtime:
            raise ImportError(
                f"{source} changed after it was compiled, and Python would run the old "
                f"build ({built[0].name}). Rebuild with `.venv/bin/pip install -e .` (or "
                "`scripts/test`), or install without compiling: "
                "`ROUTER_PURE_PYTHON=1 .venv/bin/pip install -e .`"
            )
