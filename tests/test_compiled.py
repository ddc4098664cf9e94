"""The guard against running a stale compiled module from a source tree."""

from __future__ import annotations

import importlib.machinery
import os
from pathlib import Path

import pytest

from router.compiled import COMPILED, built_files, check_fresh, is_compiled

SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]


def source_tree(root: Path, *, with_pyproject: bool = True) -> Path:
    """A tree like the checkout: src/router/engine/core.py with a build beside it."""
    package = root / "src" / "router"
    (package / "engine").mkdir(parents=True)
    (package / "engine" / "core.py").write_text("", encoding="utf-8")
    (package / "engine" / f"core{SUFFIX}").write_bytes(b"")
    if with_pyproject:
        (root / "pyproject.toml").write_text("", encoding="utf-8")
    return package


def age(path: Path, seconds: float) -> None:
    then = path.stat().st_mtime - seconds
    os.utime(path, (then, then))


def test_a_source_edited_after_the_build_is_refused(tmp_path: Path) -> None:
    package = source_tree(tmp_path)
    age(package / "engine" / f"core{SUFFIX}", 60)
    with pytest.raises(ImportError, match=r"core\.py changed after it was compiled"):
        check_fresh(package)


def test_a_build_newer_than_its_source_is_accepted(tmp_path: Path) -> None:
    package = source_tree(tmp_path)
    age(package / "engine" / "core.py", 60)
    check_fresh(package)
    assert built_files("router.engine.core", package)[1] == [package / "engine" / f"core{SUFFIX}"]


def test_an_installed_package_is_not_judged_by_file_times(tmp_path: Path) -> None:
    package = source_tree(tmp_path, with_pyproject=False)
    age(package / "engine" / f"core{SUFFIX}", 60)
    check_fresh(package)  # no pyproject.toml above: not a checkout


def test_the_compiled_list_names_real_modules() -> None:
    for module in COMPILED:
        source, _ = built_files(module)
        assert source.exists(), module
    # this checkout is either built or pure as a whole
    states = {bool(built_files(module)[1]) for module in COMPILED}
    assert states == {is_compiled()}
