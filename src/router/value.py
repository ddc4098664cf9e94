"""`Value`: the base of the small immutable objects the engine builds per contact.

A NamedTuple's or dataclass's generated `__init__` runs as plain Python even
where mypyc compiles its users: about 500 ns a build, against 40 ns for a class
with its own `__init__` (`router/compiled.py`). The engine builds a dozen per
contact (events in, effects out, offers, routing contexts). So they are plain
classes: each names its fields in `__match_args__` (for `match` too) and
declares them `Final` (mypy refuses a write; compiled, so does the runtime);
this base gives them equality, hashing and a repr by those fields, as a
NamedTuple had.
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

_V = TypeVar("_V", bound="Value")


class Value:
    __match_args__: ClassVar[tuple[str, ...]] = ()

    def _values(self) -> tuple[Any, ...]:
        return tuple([getattr(self, name) for name in self.__match_args__])

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Value)
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        fields = ", ".join([f"{name}={getattr(self, name)!r}" for name in self.__match_args__])
        return f"{type(self).__name__}({fields})"

    def _asdict(self) -> dict[str, Any]:
        """The fields by name, in order (as a NamedTuple's `_asdict`)."""
        return {name: getattr(self, name) for name in self.__match_args__}

    def _replace(self: _V, **changes: Any) -> _V:
        """A copy with some fields changed (as a NamedTuple's `_replace`)."""
        build: Any = type(self)  # every subclass takes its fields as keywords
        copy: _V = build(**{**self._asdict(), **changes})
        return copy
