"""docs/plugins.md is the plugin authors' contract: one section per hook, examples that work.

Like datasette's `test_plugin_hooks_are_documented`: a hook added to
`router.hookspecs` without a `## router_NAME` section fails here, and so does a
section for a hook that no longer exists. Every section must show the hook's
signature (argument names as in the spec) in a python block, every python
block of the guide must compile, and every example hook implementation must
register against the real hook specifications.
"""

from __future__ import annotations

import ast
import inspect
import re
import sys
import textwrap
import types
from dataclasses import dataclass
from pathlib import Path

import pluggy
import pytest

from router import hookspecs

DOCS = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"
HOOK_HEADING = re.compile(r"router_\w*")

HOOKS: dict[str, types.FunctionType] = {
    name: func
    for name, func in inspect.getmembers(hookspecs, inspect.isfunction)
    if name.startswith("router_")
}


@dataclass(frozen=True, slots=True)
class CodeBlock:
    language: str
    code: str
    line: int  # of the opening fence, 1-based

    @property
    def where(self) -> str:
        return f"{DOCS.name}:{self.line}"


@dataclass(slots=True)
class Section:
    title: str
    line: int
    blocks: list[CodeBlock]

    def python(self) -> list[CodeBlock]:
        return [block for block in self.blocks if block.language == "python"]


def parse(text: str) -> list[Section]:
    """Level-2 sections with their fenced code blocks; `## ` inside a fence is code."""
    sections = [Section(title="", line=1, blocks=[])]
    fence: tuple[str, int, list[str]] | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if fence is not None:
            if stripped == "```":
                language, start, lines = fence
                # a fence inside a list item is indented, and so is its code
                code = textwrap.dedent("\n".join(lines)) + "\n"
                sections[-1].blocks.append(CodeBlock(language, code, start))
                fence = None
            else:
                fence[2].append(line)
        elif stripped.startswith("```"):
            fence = (stripped[3:].strip(), number, [])
        elif line.startswith("## "):
            sections.append(Section(title=line[3:].strip(), line=number, blocks=[]))
    assert fence is None, f"{DOCS.name}:{fence[1]}: code block never closed"
    return sections


@pytest.fixture(scope="module")
def sections() -> list[Section]:
    assert DOCS.is_file(), f"{DOCS} is missing: the plugin authors' guide"
    return parse(DOCS.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def hook_sections(sections: list[Section]) -> dict[str, Section]:
    found: dict[str, Section] = {}
    for section in sections:
        if HOOK_HEADING.match(section.title):
            assert section.title not in found, (
                f"{DOCS.name}:{section.line}: second section for {section.title}"
            )
            found[section.title] = section
    return found


def test_hookspecs_found() -> None:
    assert len(HOOKS) >= 8, sorted(HOOKS)


def test_every_hook_is_documented(hook_sections: dict[str, Section]) -> None:
    missing = sorted(set(HOOKS) - set(hook_sections))
    assert not missing, f"hooks without a '## NAME' section in docs/plugins.md: {missing}"


def test_every_hook_section_names_a_hook(hook_sections: dict[str, Section]) -> None:
    unknown = {
        title: f"{DOCS.name}:{section.line}"
        for title, section in hook_sections.items()
        if title not in HOOKS
    }
    assert not unknown, f"sections for hooks that do not exist in router.hookspecs: {unknown}"


@pytest.mark.parametrize("hook", sorted(HOOKS))
def test_hook_section_has_python_that_compiles(
    hook: str, hook_sections: dict[str, Section]
) -> None:
    section = hook_sections.get(hook)
    if section is None:
        pytest.fail(f"no '## {hook}' section (see test_every_hook_is_documented)")
    blocks = section.python()
    assert blocks, f"{DOCS.name}:{section.line}: '## {hook}' has no ```python block"
    for block in blocks:
        compile(block.code, block.where, "exec")


@pytest.mark.parametrize("hook", sorted(HOOKS))
def test_hook_section_opens_with_the_signature(
    hook: str, hook_sections: dict[str, Section]
) -> None:
    """The first python block is `def router_NAME(...)`, its arguments those of the spec."""
    section = hook_sections.get(hook)
    if section is None or not section.python():
        pytest.fail(f"no '## {hook}' section with python (see the tests above)")
    block = section.python()[0]
    tree = ast.parse(block.code, block.where)
    defs = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
    assert defs, f"{block.where}: the first python block of '## {hook}' is not a signature"
    documented = defs[0]
    assert documented.name == hook, f"{block.where}: signature of {documented.name}, not {hook}"
    spec_args = list(inspect.signature(HOOKS[hook]).parameters)
    doc_args = [arg.arg for arg in documented.args.args]
    assert doc_args == spec_args, f"{block.where}: {hook}({', '.join(doc_args)}) vs spec"


def test_every_python_block_compiles(sections: list[Section]) -> None:
    failures = []
    for section in sections:
        for block in section.python():
            try:
                compile(block.code, block.where, "exec")
            except SyntaxError as exc:
                failures.append(f"{block.where}: {exc}")
    assert not failures, "\n".join(failures)


def test_example_hookimpls_register_against_the_specs(
    sections: list[Section], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run every example that defines `@hookimpl`s and register it: names and arguments hold."""
    examples = [
        block for section in sections for block in section.python() if "@hookimpl" in block.code
    ]
    assert len(examples) >= len(HOOKS), "expected an example implementation per hook"
    failures = []
    for index, block in enumerate(examples):
        name = f"router_docs_example_{index}"
        module = types.ModuleType(name)
        monkeypatch.setitem(sys.modules, name, module)  # dataclasses look their module up
        pm = pluggy.PluginManager("router")
        pm.add_hookspecs(hookspecs)
        try:
            exec(compile(block.code, block.where, "exec"), module.__dict__)  # our own docs
            # as the loader does: a module defining `class Plugin` is registered as `Plugin()`
            factory = module.__dict__.get("Plugin")
            plugin = factory() if isinstance(factory, type) else module
            pm.register(plugin, name=name)
            pm.check_pending()
        except Exception as exc:  # every failing example is reported at once
            failures.append(f"{block.where}: {type(exc).__name__}: {exc}")
            continue
        if not pm.get_hookcallers(plugin):
            failures.append(f"{block.where}: mentions @hookimpl but implements no hook")
    assert not failures, "\n".join(failures)
