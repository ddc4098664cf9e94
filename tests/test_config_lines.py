"""The TOML key locator: line numbers for config problems."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from router.config_lines import locate_keys, syntax_error_location

EXAMPLE = Path(__file__).parent.parent / "config" / "router.toml"

TEXT = """\
# a comment with [brackets] and key = "value"
top = 1

[http]
host = "127.0.0.1"   # trailing comment
port = 8080

[channels.meta]
app_secret = "env:X"

[routing]
exclusive_channels = [
    "voice",   # a comment inside an array
    "chat",
]
weights = { skills = 2, idle = 1 }
dotted.key = 3

[[queues]]
name = "a"
note = \"\"\"
[fake]
x = 1
\"\"\"

[[queues.escalation]]
after_seconds = 30

[[queues.escalation]]
after_seconds = 90

[[queues]]
name = "b"
literal = '''
[[queues]]
'''

[[queues.escalation]]
after_seconds = 10

[plugins."quoted name"]
'key with spaces' = 1
"esc\\u0061ped" = 2
"""


@pytest.fixture(scope="module")
def lines() -> dict[tuple[str | int, ...], int | None]:
    tomllib.loads(TEXT)  # the locator is only ever given text tomllib accepts
    located = locate_keys(TEXT)
    paths: list[tuple[str | int, ...]] = [
        ("top",),
        ("http",),
        ("http", "host"),
        ("http", "port"),
        ("channels",),
        ("channels", "meta"),
        ("channels", "meta", "app_secret"),
        ("routing", "exclusive_channels"),
        ("routing", "weights"),
        ("routing", "weights", "skills"),
        ("routing", "dotted"),
        ("routing", "dotted", "key"),
        ("queues",),
        ("queues", 0),
        ("queues", 0, "name"),
        ("queues", 0, "note"),
        ("queues", 0, "escalation"),
        ("queues", 0, "escalation", 0, "after_seconds"),
        ("queues", 0, "escalation", 1),
        ("queues", 0, "escalation", 1, "after_seconds"),
        ("queues", 1, "name"),
        ("queues", 1, "literal"),
        ("queues", 1, "escalation", 0, "after_seconds"),
        ("plugins", "quoted name"),
        ("plugins", "quoted name", "key with spaces"),
        ("plugins", "quoted name", "escaped"),
    ]
    return {path: located.line_for(path) for path in paths}


def test_plain_keys_and_tables(lines: dict[tuple[str | int, ...], int | None]) -> None:
    assert lines[("top",)] == 2
    assert lines[("http",)] == 4
    assert lines[("http", "host")] == 5
    assert lines[("http", "port")] == 6
    assert lines[("channels", "meta")] == 8
    assert lines[("channels",)] == 8  # defined implicitly by its first subtable
    assert lines[("channels", "meta", "app_secret")] == 9


def test_values_spanning_lines_are_skipped(
    lines: dict[tuple[str | int, ...], int | None],
) -> None:
    assert lines[("routing", "exclusive_channels")] == 12
    assert lines[("routing", "weights")] == 16
    assert lines[("queues", 0, "note")] == 21
    # the "[fake]" and "x = 1" inside the string define nothing: the next header counts
    assert lines[("queues", 0, "escalation", 0, "after_seconds")] == 27


def test_inline_table_keys_fall_back_to_their_holder(
    lines: dict[tuple[str | int, ...], int | None],
) -> None:
    assert lines[("routing", "weights", "skills")] == 16


def test_dotted_keys(lines: dict[tuple[str | int, ...], int | None]) -> None:
    assert lines[("routing", "dotted")] == 17
    assert lines[("routing", "dotted", "key")] == 17


def test_arrays_of_tables_are_numbered_per_parent(
    lines: dict[tuple[str | int, ...], int | None],
) -> None:
    assert lines[("queues",)] == 19
    assert lines[("queues", 0)] == 19
    assert lines[("queues", 0, "name")] == 20
    assert lines[("queues", 0, "escalation")] == 26
    assert lines[("queues", 0, "escalation", 1)] == 29
    assert lines[("queues", 0, "escalation", 1, "after_seconds")] == 30
    assert lines[("queues", 1, "name")] == 33
    assert lines[("queues", 1, "literal")] == 34
    # numbering restarts under the second queue
    assert lines[("queues", 1, "escalation", 0, "after_seconds")] == 39


def test_quoted_keys(lines: dict[tuple[str | int, ...], int | None]) -> None:
    assert lines[("plugins", "quoted name")] == 41
    assert lines[("plugins", "quoted name", "key with spaces")] == 42
    assert lines[("plugins", "quoted name", "escaped")] == 43


def test_unknown_paths_fall_back_to_the_nearest_ancestor() -> None:
    located = locate_keys(TEXT)
    assert located.line_for(("http", "nonexistent")) == 4
    assert located.line_for(("queues", 1, "escalation", 0, "add_queues", 2)) == 38
    assert located.line_for(("nothing", "here")) is None
    assert located.line_for(()) is None


def test_example_config_is_located() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    located = locate_keys(text)
    data = tomllib.loads(text)
    for index, queue in enumerate(data["queues"]):
        line = located.line_for(("queues", index, "name"))
        assert line is not None
        assert text.splitlines()[line - 1] == f'name = "{queue["name"]}"'


def test_multiline_basic_string_with_escaped_and_extra_quotes() -> None:
    text = 'a = """x \\""" y""""\nb = 2\n'
    assert tomllib.loads(text)["a"] == 'x """ y"'
    assert locate_keys(text).line_for(("b",)) == 2


def test_crlf_line_endings() -> None:
    text = "[http]\r\nport = 1\r\n\r\n[smtp]\r\nport = 2\r\n"
    tomllib.loads(text)
    located = locate_keys(text)
    assert located.line_for(("http", "port")) == 2
    assert located.line_for(("smtp", "port")) == 5


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("a = 1\nb = \n", 2, "Invalid value (column 5)"),
        ("[x]\na = 1\n[x]\n", 3, "twice"),
        ("a = 1\nb = [1,\n", 2, "(at end of file)"),
    ],
)
def test_syntax_error_location(text: str, line: int, fragment: str) -> None:
    with pytest.raises(tomllib.TOMLDecodeError) as caught:
        tomllib.loads(text)
    message, found = syntax_error_location(caught.value, text)
    assert found == line
    assert fragment in message
    assert "at line" not in message
