"""Shared set-up for the built-in plugin tests.

Nothing to reset between tests: a built-in with settings or memory is a
`Plugin` class, and each test makes its own instances (directly, or through
`load_plugins`, which builds a fresh one per plugin manager).

`plugin_fakes.py` (frozen stand-ins for the engine's views) sits beside this
file. Under `--import-mode=importlib` pytest puts no test folder on
`sys.path`, so this conftest, which pytest loads before the tests of this
folder, adds its own folder.
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
