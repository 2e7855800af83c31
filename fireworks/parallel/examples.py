"""Small importable per-batch functions for the examples and docs of the parallel map (worker processes
import functions by module, so these live in a module rather than in a notebook or a doc page)."""

from __future__ import annotations

from typing import Any


def scale(m: Any) -> Any:
    """Cheap: the ``x`` column doubled (a column operation: far below any hand-off cost)."""
    out = type(m)(m)
    out["x"] = m["x"] * 2
    return out


def digest(m: Any, rounds: int = 20_000) -> Any:
    """CPU-heavy pure Python (holds the GIL, so only processes run it in parallel): a checksum per batch
    added as the ``digest`` column, and ``x`` doubled."""
    acc = 0
    for i in range(rounds):
        acc = (acc * 31 + i) % 1_000_003
    out = scale(m)
    out["digest"] = [acc] * len(m)
    return out
