"""Compiles the router's hot modules with mypyc; everything else is in pyproject.toml.

Which modules, and why: `src/router/compiled.py`. `ROUTER_PURE_PYTHON=1` builds
nothing (and removes an earlier in-place build), so every module runs as plain
Python. Where no C compiler works, the install goes on without compiling and says so.
"""

from __future__ import annotations

import os
import runpy
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent
# read the list without importing the package (its dependencies are not installed yet)
_compiled = runpy.run_path(str(HERE / "src" / "router" / "compiled.py"))
MODULES: tuple[str, ...] = _compiled["COMPILED"]
GROUP: str = _compiled["GROUP"]


def root(module: str) -> str:
    """The folder a module's top package lives in (pyproject's package finder)."""
    return "src" if module.split(".", maxsplit=1)[0] == "router" else "plugins"


def sources() -> list[str]:
    return [str(Path(root(name), *name.split(".")).with_suffix(".py")) for name in MODULES]


def remove_in_place_builds(keep: tuple[str, ...] = ()) -> None:
    """An editable build left beside the sources would shadow them: remove every one
    but those of `keep` (which the build writes again), so that a pure install, or a
    module taken off the list, runs its source."""
    for folder, package in (("src", "router"), ("plugins", "router_plugins")):
        for built in (HERE / folder / package).rglob("*.so"):
            *packages, file = built.relative_to(HERE / folder).parts
            if ".".join((*packages, file.split(".", 1)[0])) not in keep:
                built.unlink()


class BuildOrSkip(build_ext):
    """Compile, or fall back to plain Python with a warning when the compiler fails."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as error:  # any compiler failure means: run as plain Python
            print(
                f"warning: not compiling the router's hot modules ({error}); "
                "they run as plain Python",
                file=sys.stderr,
            )


if os.environ.get("ROUTER_PURE_PYTHON") == "1":
    remove_in_place_builds()
    ext_modules = []
else:
    from mypyc.build import mypycify

    remove_in_place_builds(keep=(*MODULES, f"{GROUP}__mypyc"))

    ext_modules = mypycify(sources(), opt_level="3", group_name=GROUP)

setup(ext_modules=ext_modules, cmdclass={"build_ext": BuildOrSkip})
