"""Shared set-up for the benchmarks' smoke tests.

`bench_scripts.py` (loads a benchmark script as a module) sits beside this
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
