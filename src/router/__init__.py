"""Omnichannel contact router: a pure routing engine, pluggy plugins, an asyncio daemon."""

import inspect
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any, TypeVar, cast, overload

import pluggy

from router.compiled import check_fresh

check_fresh()

_F = TypeVar("_F", bound=Callable[..., Any])


class _HookimplMarker:
    """pluggy's marker, which can also mark a function compiled by mypyc.

    pluggy marks a hook implementation by setting an attribute on it, and reads the
    names of its parameters from its code object; a compiled function has neither (the
    built-in plugins are compiled: `router/compiled.py`). Such a function is marked
    through a plain Python function with the same parameters that calls it.
    """

    def __init__(self, project_name: str) -> None:
        self._marker = pluggy.HookimplMarker(project_name)

    @overload
    def __call__(self, function: _F) -> _F: ...
    @overload
    def __call__(
        self, function: None = None, **options: bool | str | None
    ) -> Callable[[_F], _F]: ...
    def __call__(
        self, function: _F | None = None, **options: bool | str | None
    ) -> _F | Callable[[_F], _F]:
        mark: Callable[[_F], _F] = self._marker(**options)  # type: ignore[arg-type]
        if function is None:
            return lambda f: _mark(mark, f)
        return _mark(mark, function)


def _mark(mark: Callable[[_F], _F], function: _F) -> _F:
    if hasattr(function, "__code__"):
        return mark(function)
    return mark(_forwarder(function))


def _forwarder(function: _F) -> _F:
    """A plain function with `function`'s name and positional parameters, calling it."""
    parameters = inspect.signature(function).parameters.values()
    if any(p.kind not in _POSITIONAL or p.default is not p.empty for p in parameters):
        raise TypeError(f"a compiled hook implementation takes plain parameters: {function}")
    names = ", ".join(p.name for p in parameters)
    namespace: dict[str, Any] = {"function": function}
    # the names come from the function's own signature: identifiers, nothing else
    exec(f"def forward({names}):\n    return function({names})\n", namespace)
    forward = namespace["forward"]
    for attribute in ("__module__", "__name__", "__qualname__", "__doc__"):
        setattr(forward, attribute, getattr(function, attribute, None))
    forward.__router_compiled__ = function  # the engine's own calls skip the forwarder
    return cast("_F", forward)


_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


#: Decorator for plugin hook implementations: `@router.hookimpl`.
hookimpl = _HookimplMarker("router")

try:
    __version__ = version("omnirouter")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+source"

__all__ = ["__version__", "hookimpl"]
