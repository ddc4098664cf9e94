"""Checks for the options `router_configure` hands the built-in plugins.

The config loader already checks each option's declared type; these helpers
also check the contents (numbers finite, list items non-empty strings) and
turn values into the immutable forms the plugins keep. A bad value raises
`ModelError` naming `plugins.NAME.OPTION`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from router.model import EMPTY_MAPPING, ModelError


def section(options: Mapping[str, Mapping[str, Any]], plugin: str) -> Mapping[str, Any]:
    """The plugin's own option table; empty when the config has none."""
    return options.get(plugin) or EMPTY_MAPPING


def as_float(plugin: str, name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ModelError(f"plugins.{plugin}.{name} must be a finite number, not {value!r}")
    return float(value)


def as_strings(plugin: str, name: str, value: object) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v for v in value):
        raise ModelError(f"plugins.{plugin}.{name} must be a list of non-empty strings")
    return tuple(value)


def as_float_map(plugin: str, name: str, value: object) -> Mapping[str, float]:
    if not isinstance(value, Mapping):
        raise ModelError(f"plugins.{plugin}.{name} must be a table of numbers")
    return MappingProxyType(
        {str(key): as_float(plugin, f"{name}.{key}", item) for key, item in value.items()}
    )
