"""Where a key of a TOML file is defined: `tomllib` parses values but keeps no line numbers.

`locate_keys(text)` scans the text once (after `tomllib` accepted it) and maps key
paths to lines, so config problems can say `FILE:LINE:`. A path is the key's route
through the parsed document, with list indices for arrays of tables:
`("queues", 1, "sla_seconds")`, `("queues", 0, "escalation", 1)`, `("plugins", "vip")`.

The scanner understands what it must to find keys: comments, table headers,
`[[arrays.of.tables]]` (numbered per parent, so `[[queues.escalation]]` belongs to
the latest `[[queues]]`), bare, quoted and dotted keys, and values spanning lines
(arrays, multi-line strings), which it skips. Keys inside inline tables or inline
arrays are not located; `KeyLines.line_for` falls back to the nearest known
ancestor, here the key that holds the inline value.
"""

from __future__ import annotations

import bisect
import re
import tomllib
from collections.abc import Mapping

KeyPath = tuple[str | int, ...]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_BASIC_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"')
_LITERAL_STRING = re.compile(r"'[^'\n]*'")
_SYNTAX_AT = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_SYNTAX_AT_END = re.compile(r"\s*\(at end of document\)\s*$")


class KeyLines:
    """Line numbers (1-based) of the keys and tables of one TOML text."""

    def __init__(self, lines: Mapping[KeyPath, int]) -> None:
        self._lines = dict(lines)

    def line_for(self, path: KeyPath) -> int | None:
        """The line defining `path`, else that of its nearest located ancestor, else None."""
        for end in range(len(path), 0, -1):
            line = self._lines.get(path[:end])
            if line is not None:
                return line
        return None

    def __len__(self) -> int:
        return len(self._lines)


def locate_keys(text: str) -> KeyLines:
    """Scan a TOML text (one `tomllib` accepts) and locate its keys and tables."""
    return KeyLines(_Scanner(text).scan())


def syntax_error_location(exc: tomllib.TOMLDecodeError, text: str) -> tuple[str, int | None]:
    """Split a `tomllib` error into its message and line.

    Python 3.11-3.13 put the position only in the message, as "(at line N, column M)"
    or "(at end of document)"; the column stays in the message for the reader.
    """
    message = str(exc)
    match = _SYNTAX_AT.search(message)
    if match:
        return f"{message[: match.start()]} (column {match.group(2)})", int(match.group(1))
    match = _SYNTAX_AT_END.search(message)
    if match:
        return f"{message[: match.start()]} (at end of file)", max(1, text.count("\n"))
    lineno = getattr(exc, "lineno", None)  # Python 3.14 adds structured fields
    return message, lineno if isinstance(lineno, int) else None


class _Scanner:
    """One pass over the text; `pos` is the index of the next unread character."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self._newlines = [i for i, char in enumerate(text) if char == "\n"]
        self.lines: dict[KeyPath, int] = {}
        #: how many `[[...]]` tables each concrete array path has had so far
        self._array_counts: dict[KeyPath, int] = {}
        self._table: KeyPath = ()

    def scan(self) -> dict[KeyPath, int]:
        while self.pos < len(self.text):
            self._skip_blank()
            if self.pos >= len(self.text):
                break
            char = self.text[self.pos]
            if char in "\r\n":
                self.pos += 1
            elif char == "#":
                self._skip_to_line_end()
            elif char == "[":
                self._header()
            else:
                self._key_value()
        return self.lines

    # -- statements ------------------------------------------------------
    def _header(self) -> None:
        line = self._line()
        is_array = self.text.startswith("[[", self.pos)
        self.pos += 2 if is_array else 1
        segments = self._key()
        self._skip_to_line_end()
        if not segments:
            return
        if is_array:
            array = (*self._resolve(segments[:-1]), segments[-1])
            index = self._array_counts.get(array, 0)
            self._array_counts[array] = index + 1
            self._table = (*array, index)
        else:
            self._table = self._resolve(segments)
        self._record_ancestors(self._table, line)
        self.lines[self._table] = line

    def _key_value(self) -> None:
        line = self._line()
        segments = self._key()
        self._skip_blank()
        if not segments or not self.text.startswith("=", self.pos):
            self._skip_to_line_end()  # not a key; tomllib accepted the text, so be lenient
            return
        self.pos += 1
        path = (*self._table, *segments)
        self._record_ancestors(path, line)
        self.lines[path] = line
        self._skip_value()

    def _resolve(self, segments: list[str]) -> KeyPath:
        """A header's dotted name as a concrete path: arrays of tables get their latest index."""
        path: KeyPath = ()
        for segment in segments:
            path = (*path, segment)
            count = self._array_counts.get(path)
            if count:
                path = (*path, count - 1)
        return path

    def _record_ancestors(self, path: KeyPath, line: int) -> None:
        # `[channels.meta]` also defines `channels`, unless an earlier line did
        for end in range(1, len(path)):
            self.lines.setdefault(path[:end], line)

    # -- pieces --------------------------------------------------------
    def _key(self) -> list[str]:
        """A dotted key (`a."b c".d`); stops before `=`, `]` or the end of the line."""
        segments: list[str] = []
        while True:
            self._skip_blank()
            segment = self._key_segment()
            if segment is None:
                return segments
            segments.append(segment)
            self._skip_blank()
            if not self.text.startswith(".", self.pos):
                return segments
            self.pos += 1

    def _key_segment(self) -> str | None:
        for pattern in (_BARE_KEY, _BASIC_STRING, _LITERAL_STRING):
            match = pattern.match(self.text, self.pos)
            if match:
                self.pos = match.end()
                return _key_text(match.group(0))
        return None

    def _skip_value(self) -> None:
        """Skip a value up to the end of its (last) line: brackets, strings, comments."""
        depth = 0
        text = self.text
        while self.pos < len(text):
            char = text[self.pos]
            if char == "\n" and depth == 0:
                return
            if char in "\"'":
                self._skip_string(char)
                continue
            if char == "#":
                self._skip_to_line_end()
                continue
            if char in "[{":
                depth += 1
            elif char in "]}":
                depth -= 1
            self.pos += 1

    def _skip_string(self, quote: str) -> None:
        text = self.text
        triple = quote * 3
        if text.startswith(triple, self.pos):
            end = self.pos + 3
            while True:
                end = text.find(triple, end)
                if end < 0:
                    self.pos = len(text)
                    return
                if quote == '"' and _escaped(text, end):
                    end += 1
                    continue
                end += 3
                # `""""` and `"""""` close too: up to two quotes of content, then the delimiter
                for _ in range(2):
                    if end < len(text) and text[end] == quote:
                        end += 1
                self.pos = end
                return
        end = self.pos + 1
        while end < len(text) and text[end] not in (quote, "\n"):
            end += 2 if quote == '"' and text[end] == "\\" else 1
        self.pos = end + 1

    def _skip_blank(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t":
            self.pos += 1

    def _skip_to_line_end(self) -> None:
        end = self.text.find("\n", self.pos)
        self.pos = len(self.text) if end < 0 else end

    def _line(self) -> int:
        return bisect.bisect_left(self._newlines, self.pos) + 1


def _escaped(text: str, index: int) -> bool:
    """Whether the character at `index` follows an odd number of backslashes."""
    count = 0
    while index - count - 1 >= 0 and text[index - count - 1] == "\\":
        count += 1
    return count % 2 == 1


def _key_text(token: str) -> str:
    if token[0] == '"':
        # let tomllib decode the escapes (\u00e9, \t, ...) exactly as it did for the data
        value = tomllib.loads(f"k = {token}")["k"]
        return str(value)
    if token[0] == "'":
        return token[1:-1]
    return token
