"""Typed reading of parsed TOML tables, collecting every problem instead of stopping.

Each getter checks one key and returns a usable value even when the key is wrong
(its default), so validation carries on and `router check-config` can list all
problems of a file at once. `router.config` re-exports `Problem` and `ConfigError`.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from router.config_lines import KeyLines, KeyPath

_ENV_PREFIX = "env:"
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a config file, printed as `FILE:LINE: message`."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        if self.line is None:
            return f"{self.file}: {self.message}"
        return f"{self.file}:{self.line}: {self.message}"


class ConfigError(Exception):
    """A config that cannot be used; `problems` lists everything found, in file order."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`"; did you mean 'x'?"` when a choice is close to `word`, else `""`."""
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def type_name(value: object) -> str:
    """How a TOML value is called in messages: the TOML word, not the Python class."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return f"a {type(value).__name__}"  # dates and times


@dataclass(slots=True)
class Reader:
    """The problems and unset secrets of one file, and the lines to report them at."""

    file: str
    lines: KeyLines
    env: Mapping[str, str]
    problems: list[Problem] = field(default_factory=list)
    unset_secrets: list[str] = field(default_factory=list)

    def problem(self, path: KeyPath, message: str) -> None:
        self.problems.append(Problem(self.file, self.lines.line_for(path), message))

    def table(self, data: Mapping[str, Any], path: KeyPath, label: str) -> Table:
        return Table(self, data, path, label)

    def secret(self, value: str, path: KeyPath) -> str | None:
        """Resolve `env:NAME` from the environment; any other string is itself.

        An unset variable is None, not a problem: the example config must pass
        `check-config` on a machine that has none of its secrets yet.
        """
        if not value.startswith(_ENV_PREFIX):
            return value
        name = value.removeprefix(_ENV_PREFIX)
        if not _ENV_NAME.fullmatch(name):
            self.problem(path, f"{value!r} is not a valid env: reference (env:VARIABLE_NAME)")
            return None
        if name in self.env:
            return self.env[name]
        if name not in self.unset_secrets:
            self.unset_secrets.append(name)
        return None

    def resolve_secrets(self, value: Any, path: KeyPath) -> Any:
        """`secret` applied to every string in a value, through nested tables and arrays."""
        if isinstance(value, str):
            return self.secret(value, path)
        if isinstance(value, dict):
            return {k: self.resolve_secrets(v, (*path, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve_secrets(v, (*path, i)) for i, v in enumerate(value)]
        return value

    def sorted_problems(self) -> list[Problem]:
        # file order reads best; problems about the whole file (no line) come first
        return sorted(self.problems, key=lambda p: p.line or 0)


@dataclass(slots=True)
class Table:
    """One TOML table being read: `label` names it in messages (`[[queues]] #2`)."""

    reader: Reader
    data: Mapping[str, Any]
    path: KeyPath
    label: str

    def at(self, key: str | int) -> KeyPath:
        return (*self.path, key)

    def fail(self, key: str, message: str) -> None:
        self.reader.problem(self.at(key), message)

    def check_keys(self, allowed: Iterable[str]) -> None:
        known = list(allowed)
        for key in self.data:
            if key not in known:
                hint = did_you_mean(key, known)
                self.fail(key, f"unknown key {key!r} in {self.label}{hint}")

    def wrong_type(self, key: str, expected: str, value: object) -> None:
        self.fail(key, f"{key!r} in {self.label} must be {expected}, not {type_name(value)}")

    def text(self, key: str, default: str) -> str:
        """A non-empty string."""
        value = self.data.get(key, default)
        if not isinstance(value, str):
            self.wrong_type(key, "a string", value)
            return default
        if not value.strip():
            self.fail(key, f"{key!r} in {self.label} must not be empty")
        return value

    def optional_secret(self, key: str) -> str | None:
        """A string that may be `env:NAME`; absent means None."""
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            self.wrong_type(key, "a string", value)
            return None
        return self.reader.secret(value, self.at(key))

    def flag(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            self.wrong_type(key, "a boolean (true or false)", value)
            return default
        return value

    def integer(self, key: str, default: int, *, low: int, high: int | None = None) -> int:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            self.wrong_type(key, "an integer", value)
            return default
        if value < low or (high is not None and value > high):
            bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
            self.fail(key, f"{key!r} in {self.label} must be {bounds}, not {value}")
            return default
        return value

    def optional_integer(self, key: str, *, low: int, high: int) -> int | None:
        if key not in self.data:
            return None
        return self.integer(key, low, low=low, high=high)

    def number(self, key: str, default: float, *, above: float | None = None) -> float:
        """A float (an integer is fine); `above` is an exclusive lower bound, if any."""
        value = self.data.get(key, default)
        number = self.as_number(key, value)
        if number is None:
            return default
        if above is not None and number <= above:
            self.fail(key, f"{key!r} in {self.label} must be more than {above:g}, not {value}")
            return default
        return number

    def non_negative(self, key: str, default: float) -> float:
        value = self.number(key, default)
        if value < 0:
            self.fail(key, f"{key!r} in {self.label} must be 0 or more, not {value:g}")
            return default
        return value

    def as_number(self, key: str, value: object) -> float | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.wrong_type(key, "a number", value)
            return None
        if not math.isfinite(value):
            self.fail(key, f"{key!r} in {self.label} must be a finite number, not {value}")
            return None
        return float(value)

    def strings(self, key: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        """An array of non-empty strings."""
        value = self.data.get(key, list(default))
        if not isinstance(value, list):
            self.wrong_type(key, "an array of strings", value)
            return default
        result: list[str] = []
        for item in value:
            if not isinstance(item, str) or not item.strip():
                got = repr(item) if isinstance(item, str) else type_name(item)
                self.fail(key, f"{key!r} in {self.label} must hold non-empty strings, not {got}")
                return default
            result.append(item)
        return tuple(result)

    def subtable(self, key: str, label: str) -> Table | None:
        """The table under `key`, or None (a problem when present but not a table)."""
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            self.wrong_type(key, "a table", value)
            return None
        return Table(self.reader, value, self.at(key), label)

    def tables(self, key: str, header: str) -> list[tuple[int, Mapping[str, Any]]] | None:
        """An array of tables (`[[header]]`), with indices; None when absent or wrong."""
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            self.wrong_type(key, f"an array of tables ([[{header}]])", value)
            return None
        return list(enumerate(value))
