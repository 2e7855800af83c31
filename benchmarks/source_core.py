"""Benchmark: the Source core's per-batch overhead, against the same work written by hand, in one run.

An in-memory table of N rows (8 float32 features, an int64 label) is shuffled and cut into batches of 256,
one epoch. The hand-written loop draws one ``torch.randperm`` and gathers each batch with
``index_select``; Fireworks runs ``MessageSource -> shuffle -> batch -> to_tensors`` (and the same with a
``map`` and a ``prefetch``). The difference per batch is the cost of the core (planning a pass, the nodes'
bookkeeping, Message construction), printed in microseconds next to the rows/s ratio.

    python benchmarks/source_core.py            # 1,000,000 rows
    python benchmarks/source_core.py --quick    # 50,000 rows, a smoke run
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch

BATCH = 256
FEATURES = [f"f{i}" for i in range(8)]


def make(rows: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    cols = {f: rng.normal(i, 1 + i, rows).astype(np.float32) for i, f in enumerate(FEATURES)}
    cols["label"] = rng.integers(0, 10, rows)
    return cols


def hand_written(cols: dict[str, np.ndarray]) -> Callable[[], int]:
    x = torch.from_numpy(np.stack([cols[f] for f in FEATURES], axis=1))
    y = torch.from_numpy(cols["label"])

    def run() -> int:
        perm = torch.randperm(x.shape[0])
        n = 0
        for a in range(0, x.shape[0], BATCH):
            idx = perm[a : a + BATCH]
            xb, yb = x.index_select(0, idx), y.index_select(0, idx)
            n += xb.shape[0] + 0 * yb.shape[0]
        return n

    return run


def fireworks_pipeline(cols: dict[str, np.ndarray], kind: str) -> Callable[[], int]:
    from fireworks import Message, Source

    src = Message({k: torch.from_numpy(v) for k, v in cols.items()})
    pipe = Source(src).shuffle(seed=0)
    if kind == "map":
        pipe = pipe.map(lambda m: m)
    pipe = pipe.batch(BATCH).to_tensors()
    if kind == "prefetch":
        pipe = pipe.prefetch(4)

    def run() -> int:
        n = 0
        for batch in pipe:
            n += len(batch)
        return n

    return run


def best_of(fn: Callable[[], int], repeats: int) -> tuple[float, float, int]:
    """Best wall time, best CPU time of this process (all its threads) and the rows of one run. CPU time
    is the steadier number on a shared machine."""
    best, best_cpu, rows = float("inf"), float("inf"), 0
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        rows = fn()
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return best, best_cpu, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="50,000 rows")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rows = 50_000 if args.quick else args.rows
    cols = make(rows)
    batches = -(-rows // BATCH)
    torch.set_num_threads(1)  # the same single thread for every contender
    base, base_cpu, n = best_of(hand_written(cols), args.repeats)
    assert n == rows
    print(
        f"{rows} rows, {batches} batches of {BATCH}, best of {args.repeats}; ratio = Fireworks rows/s over hand-written"
    )
    print(
        f"{'hand-written (randperm + index_select)':40s} {rows / base:11,.0f} rows/s  "
        f"{base / batches * 1e6:6.1f} us/batch (cpu {base_cpu / batches * 1e6:6.1f})"
    )
    for kind in ("plain", "map", "prefetch"):
        t, cpu, n = best_of(fireworks_pipeline(cols, kind), args.repeats)
        assert n == rows, (kind, n)
        print(
            f"{'fireworks ' + kind:40s} {rows / t:11,.0f} rows/s  {base / t:5.2f}x  "
            f"{t / batches * 1e6:6.1f} us/batch (cpu {cpu / batches * 1e6:6.1f})  "
            f"overhead {(t - base) / batches * 1e6:+6.1f} us/batch "
            f"(cpu {(cpu - base_cpu) / batches * 1e6:+6.1f})"
        )


if __name__ == "__main__":
    main()
