"""Omnichannel contact router: a pure routing engine, pluggy plugins, an asyncio daemon."""

from importlib.metadata import PackageNotFoundError, version

import pluggy

from router.compiled import check_fresh

check_fresh()

#: Decorator for plugin hook implementations: `@router.hookimpl`.
hookimpl = pluggy.HookimplMarker("router")

try:
    __version__ = version("omnirouter")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+source"

__all__ = ["__version__", "hookimpl"]
