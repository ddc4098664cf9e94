"""The `router` command (CONTRACT 1).

Each subcommand is a function taking the parsed arguments and returning the
exit status; `build_parser` wires them up. Exit 0 on success, 2 when the config
(or the command line) is wrong, as argparse itself does.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

import router
from router.config import DEFAULT_CONFIG_PATH, ConfigError, RouterConfig, load_config_and_plugins
from router.plugins import PluginInfo, PluginLoadError, RouterPlugins, load_plugins

if TYPE_CHECKING:
    import asyncio

    # what `add_subparsers` returns; argparse gives it no public name
    Commands: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]

EXIT_OK = 0
EXIT_INVALID = 2
#: queue names shown in the `check-config` summary before "..."
SUMMARY_QUEUES = 6


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.handler(args)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`router plugins | head`): stop quietly, as Unix tools do.
        # Point stdout at /dev/null so the interpreter's final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    return status


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="router", description="Omnichannel contact router: routing engine and daemon."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    # One `_add_NAME(commands)` per subcommand, in the order of CONTRACT 1:
    # run, check-config, plugins, simulate, version.
    _add_run(commands)
    _add_check_config(commands)
    _add_plugins(commands)
    _add_simulate(commands)
    _add_version(commands)
    return parser


def _add_run(commands: Commands) -> None:
    cmd = commands.add_parser(
        "run",
        help="run the daemon",
        description="Route contacts: HTTP API, MQTT, SMTP and channel webhooks. SIGTERM or"
        " SIGINT drains and stops; SIGHUP reloads the config.",
    )
    cmd.add_argument("--config", type=Path, default=DEFAULT_CONFIG_PATH, metavar="FILE")
    cmd.add_argument(
        "--log-level",
        default=os.environ.get("ROUTER_LOG_LEVEL", "info"),
        choices=("debug", "info", "warning", "error"),
        help="default: $ROUTER_LOG_LEVEL or info",
    )
    cmd.set_defaults(handler=_run)


def _add_check_config(commands: Commands) -> None:
    cmd = commands.add_parser(
        "check-config",
        help="validate a config file",
        description="Exit 0 with a one-line summary, or print every problem as FILE:LINE: message"
        " and exit 2.",
    )
    cmd.add_argument("file", type=Path, metavar="FILE")
    cmd.set_defaults(handler=_check_config)


def _add_plugins(commands: Commands) -> None:
    cmd = commands.add_parser(
        "plugins",
        help="list the loaded plugins and their hooks",
        description=f"List every plugin the config loads. Default config: {DEFAULT_CONFIG_PATH}"
        " when it exists, else the built-in plugins and installed entry points.",
    )
    cmd.add_argument("--config", type=Path, metavar="FILE")
    cmd.set_defaults(handler=_plugins)


def _add_simulate(commands: Commands) -> None:
    cmd = commands.add_parser(
        "simulate",
        help="what-if run of the engine on a virtual clock",
        description="Run the real engine and plugins on a simulated workload (docs/simulate.md)"
        " and print the report; a second --config runs on the same arrivals, side by side.",
    )
    cmd.add_argument(
        "--config",
        type=Path,
        action="append",
        required=True,
        metavar="FILE",
        help="router config; give it twice to compare two configs",
    )
    cmd.add_argument("--workload", type=Path, required=True, metavar="FILE")
    cmd.add_argument("--json", action="store_true", help="print the report as the last line")
    cmd.add_argument("--seed", type=_seed, metavar="N", help="overrides the workload's seed")
    cmd.add_argument("--plot", type=Path, metavar="FILE.png", help="draw the day (matplotlib)")
    cmd.set_defaults(handler=_simulate)


def _seed(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"not a seed (an integer >= 0): {text!r}")
    return int(text)


def _add_version(commands: Commands) -> None:
    cmd = commands.add_parser("version", help="print the version")
    cmd.set_defaults(handler=_version)


# -- run ---------------------------------------------------------------------
def _run(args: argparse.Namespace) -> int:
    # Imported here: the daemon pulls in aiohttp, aiomqtt and aiosmtpd, which the
    # other subcommands do not need.
    import asyncio

    from router.runtime.daemon import StartupError, serve
    from router.runtime.logs import setup_logging

    setup_logging(args.log_level)
    try:
        config, plugins = load_config_and_plugins(args.config)
    except ConfigError as exc:
        _print_problems(exc)
        return EXIT_INVALID
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(serve(config, plugins))
    except StartupError as exc:
        print(f"router: {exc}", file=sys.stderr)
        return EXIT_INVALID
    return EXIT_OK


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:  # not on Windows: the default loop does
        return None
    return uvloop.new_event_loop


# -- check-config ------------------------------------------------------------
def _check_config(args: argparse.Namespace) -> int:
    path: Path = args.file
    try:
        config, plugins = load_config_and_plugins(path)
    except ConfigError as exc:
        _print_problems(exc)
        return EXIT_INVALID
    print(f"{path}: OK: {summary(config, plugins)}")
    return EXIT_OK


def summary(config: RouterConfig, plugins: RouterPlugins) -> str:
    """`5 queues (support, sales, ...), 13 plugins, http 127.0.0.1:8080, store var/router.db`."""
    names = [queue.name for queue in config.queues]
    shown = ", ".join(names[:SUMMARY_QUEUES]) + (", ..." if len(names) > SUMMARY_QUEUES else "")
    parts = [
        f"{_count(len(names), 'queue')} ({shown})",
        _count(len(plugins.describe()), "plugin"),
        f"http {config.http.host}:{config.http.port}",
        f"store {config.store.path}",
    ]
    text = ", ".join(parts)
    if config.unset_secrets:
        text += "; unset secrets: " + ", ".join(config.unset_secrets)
    return text


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _print_problems(exc: ConfigError) -> None:
    # stdout, one per line: editors and CI annotate FILE:LINE: lines
    for problem in exc.problems:
        print(problem)


# -- plugins -----------------------------------------------------------------
def _plugins(args: argparse.Namespace) -> int:
    path: Path | None = args.config
    if path is None and DEFAULT_CONFIG_PATH.is_file():
        path = DEFAULT_CONFIG_PATH
    try:
        plugins = load_config_and_plugins(path)[1] if path else load_plugins()
    except ConfigError as exc:
        _print_problems(exc)
        return EXIT_INVALID
    except PluginLoadError as exc:
        print(f"cannot load plugins: {exc}")
        return EXIT_INVALID
    print(plugin_table(plugins.describe()))
    return EXIT_OK


def plugin_table(infos: Sequence[PluginInfo]) -> str:
    """One row per plugin, columns aligned: name, origin, hooks."""
    rows = [("PLUGIN", "ORIGIN", "HOOKS")]
    rows += [(info.name, info.origin, ", ".join(info.hooks) or "-") for info in infos]
    name_width = max(len(row[0]) for row in rows)
    origin_width = max(len(row[1]) for row in rows)
    return "\n".join(
        f"{name:<{name_width}}  {origin:<{origin_width}}  {hooks}".rstrip()
        for name, origin, hooks in rows
    )


# -- simulate ----------------------------------------------------------------
def _simulate(args: argparse.Namespace) -> int:
    from router.sim.command import Options, simulate  # the simulator loads only for `simulate`

    options = Options(
        configs=tuple(args.config),
        workload=args.workload,
        json=args.json,
        seed=args.seed,
        plot=args.plot,
    )
    return simulate(options)


# -- version -----------------------------------------------------------------
def _version(args: argparse.Namespace) -> int:
    from router.compiled import is_compiled

    build = "compiled" if is_compiled() else "plain Python"
    print(f"router {router.__version__} ({build})")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
