"""Shared helpers for the benchmarks: a median-of-N timer, a peak-memory probe and a results table.

Use from a benchmark script (``python benchmarks/x.py`` puts this folder on ``sys.path``)::

    from _common import Row, parse_args, report, timeit

    args = parse_args("what this benchmark measures")
    ours = timeit(lambda: work(), repeat=args.repeat)
    peer = timeit(lambda: peer_work(), repeat=args.repeat)
    ok = report("title", [Row("case", ours, "peer name", peer, max_ratio=1.5)])

Timings on a shared machine are noisy, so every row compares Fireworks with a peer measured in the same run
and prints the ratio; absolute limits (``max_seconds``) are reported too where an issue names one.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Row", "evict_caches", "fmt_seconds", "parse_args", "peak_memory", "report", "timeit"]

_EVICT_BYTES = 256 * 2**20  # larger than the last-level cache of any CPU these run on
_evict_buffer: Any = None


def parse_args(
    description: str, argv: Sequence[str] | None = None, quick_repeat: int = 3
) -> argparse.Namespace:
    """Standard flags: ``--quick`` (a small smoke run) and ``--repeat N``; ``args.repeat`` is set for you
    (``quick_repeat`` with ``--quick``, else 9)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats (smoke run)")
    parser.add_argument("--repeat", type=int, default=None, help="timed repeats per case (median)")
    args = parser.parse_args(argv)
    if args.repeat is None:
        args.repeat = quick_repeat if args.quick else 9
    return args


def timeit(
    fn: Callable[[], Any],
    *,
    repeat: int = 9,
    number: int | None = None,
    min_time: float = 0.02,
    warmup: int = 1,
    best: bool = False,
    before: Callable[[], Any] | None = None,
) -> float:
    """Median seconds per call of ``fn`` over ``repeat`` timed batches of ``number`` calls.

    ``number`` defaults to enough calls for one batch to take about ``min_time`` seconds, so microsecond
    operations are timed over many calls. The garbage collector is paused while timing. ``best=True`` returns
    the fastest batch instead of the median (robust to other processes for single long calls). ``before`` runs
    untimed before each batch (e.g. :func:`evict_caches`, to time every batch from the same cold state).
    """
    for _ in range(warmup):
        fn()
    if number is None:
        start = time.perf_counter()
        fn()
        one = max(time.perf_counter() - start, 1e-7)
        number = max(1, int(min_time / one))
    samples = []
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeat):
            if before is not None:
                before()
            start = time.perf_counter()
            for _ in range(number):
                fn()
            samples.append((time.perf_counter() - start) / number)
    finally:
        if gc_was_enabled:
            gc.enable()
    return min(samples) if best else statistics.median(samples)


def evict_caches() -> None:
    """Push everything else out of the CPU caches by writing a buffer larger than any of them.

    Comparing a small and a large input "warm" favours the small one, which stays cached between repeats;
    evicting before each timed run puts both in the same state, so their ratio shows the algorithm's scaling.
    """
    global _evict_buffer
    import numpy as np

    if _evict_buffer is None:
        _evict_buffer = np.zeros(_EVICT_BYTES // 8)
    _evict_buffer += 1.0


def peak_memory(fn: Callable[[], Any]) -> tuple[Any, int]:
    """Run ``fn`` once and return ``(result, peak bytes allocated during it)`` as traced by tracemalloc.

    tracemalloc sees Python and numpy allocations; torch CPU tensors are not traced.
    """
    gc.collect()
    tracemalloc.start()
    try:
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


def fmt_seconds(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


@dataclass
class Row:
    """One benchmark case: Fireworks' time against a peer's, with optional targets.

    ``max_ratio``: Fireworks may take at most this multiple of the peer's time. ``max_seconds``: an absolute
    limit on Fireworks' time. ``met`` is True when every target given holds (None when there is no target).
    """

    case: str
    fireworks: float
    peer_name: str = ""
    peer: float | None = None
    max_ratio: float | None = None
    max_seconds: float | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        return None if not self.peer else self.fireworks / self.peer

    @property
    def target(self) -> str:
        parts = []
        if self.max_ratio is not None:
            parts.append(f"ratio <= {self.max_ratio:g}")
        if self.max_seconds is not None:
            parts.append(f"<= {fmt_seconds(self.max_seconds)}")
        return ", ".join(parts) or "-"

    @property
    def met(self) -> bool | None:
        checks = []
        if self.max_ratio is not None:
            checks.append(self.ratio is not None and self.ratio <= self.max_ratio)
        if self.max_seconds is not None:
            checks.append(self.fireworks <= self.max_seconds)
        return all(checks) if checks else None


def report(title: str, rows: Sequence[Row]) -> bool:
    """Print a table "case / fireworks / peer / ratio / target / met"; return whether every target was met."""
    header = ("case", "fireworks", "peer", "peer time", "ratio", "target", "met")
    table = [header]
    for r in rows:
        met = "-" if r.met is None else ("yes" if r.met else "NO")
        table.append(
            (
                r.case + (f" ({r.note})" if r.note else ""),
                fmt_seconds(r.fireworks),
                r.peer_name or "-",
                fmt_seconds(r.peer) if r.peer is not None else "-",
                f"{r.ratio:.2f}x" if r.ratio is not None else "-",
                r.target,
                met,
            )
        )
    widths = [max(len(str(line[i])) for line in table) for i in range(len(header))]
    print(f"\n== {title} ==")
    for k, line in enumerate(table):
        print("  ".join(str(cell).ljust(w) for cell, w in zip(line, widths)).rstrip())
        if k == 0:
            print("  ".join("-" * w for w in widths))
    ok = all(r.met is not False for r in rows)
    print(f"all targets met: {'yes' if ok else 'NO'}")
    return ok
