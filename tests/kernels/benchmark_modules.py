"""Importing a benchmark script in a test as the script imports its neighbours: benchmarks/ first on
sys.path, where `kernels` is benchmarks/kernels.py, not codepager.kernels."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@contextmanager
def imported_benchmark(name: str) -> Iterator:
    """benchmarks/<name>.py imported; afterwards sys.path and every module taken from benchmarks/
    are as they were (a `kernels` imported before comes back)."""
    saved = sys.modules.pop("kernels", None)
    before = set(sys.modules)
    sys.path.insert(0, str(BENCHMARKS))
    try:
        yield importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCHMARKS))
        for module in set(sys.modules) - before:
            if str(BENCHMARKS) in str(getattr(sys.modules[module], "__file__", "") or ""):
                del sys.modules[module]
        if saved is not None:
            sys.modules["kernels"] = saved
