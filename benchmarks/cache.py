"""MessageCache and CachingSource: per-row cost, hit vs miss, hinted prefetch, larger-than-memory streaming.

Cases (every ratio measured in this run):

1. single-row insert (into a full cache: one eviction each) and get at N and 10*N cached rows, LRU and LFU;
   targets: <= 20 us median per operation and flat (10*N / N <= 1.5). Peer: a hand-written OrderedDict LRU
   of per-row tensors (the usual Python cache; it cannot hand back a batch as one Message).
2. CachingSource over an upstream with 2 ms latency per call: 64 random rows, hit path vs miss path (>= 20x).
3. A shuffled epoch (ShufflerSource -> batches -> a 'training step') over a slow upstream, with prefetch
   hints vs without (prefetch_rows=0): target <= 0.6x the time.
4. Streaming a Parquet file with WindowShuffleSource, 1x vs 4x the rows: peak RSS grows < 15%; the peer
   (pandas read + sample(frac=1)) is measured the same way. Each run is a fresh process.

Run: python benchmarks/cache.py [--quick]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Row, fmt_seconds, parse_args, report, timeit

from fireworks import (
    BatchingSource,
    CachingSource,
    LFUCache,
    LRUCache,
    Message,
    ShufflerSource,
    Source,
)
from fireworks.sources.base import index_to_array, normalize_index

DIM = 16


def rows(keys: np.ndarray) -> Message:
    return Message({"x": torch.randn(len(keys), DIM), "id": keys.astype(np.int64)})


# ------------------------------------------------------------------------- 1. per-row operations
def per_row(cls: type, n: int, repeat: int) -> tuple[float, float]:
    cache = cls(n)
    cache[np.arange(n)] = rows(np.arange(n))
    one = rows(np.array([0]))
    rng = np.random.default_rng(0)
    fresh = iter(range(n, 10**12))
    hot = rng.integers(0, n, 1_000_000).tolist()
    pos = [0]

    def insert() -> None:
        cache[next(fresh)] = one

    def get() -> None:
        i = pos[0] = pos[0] + 1
        k = hot[i % len(hot)]
        if k in cache:
            cache[k]
        else:
            cache[k] = one

    return timeit(insert, repeat=repeat, min_time=0.02), timeit(get, repeat=repeat, min_time=0.02)


def per_row_peer(n: int, repeat: int) -> tuple[float, float]:
    od: OrderedDict[int, tuple[torch.Tensor, int]] = OrderedDict()
    data = torch.randn(n, DIM)
    for k in range(n):
        od[k] = (data[k], k)
    row = (torch.randn(DIM), 0)
    fresh = iter(range(n, 10**12))
    hot = np.random.default_rng(0).integers(0, n, 1_000_000).tolist()
    pos = [0]

    def insert() -> None:
        od[next(fresh)] = row
        if len(od) > n:
            od.popitem(last=False)

    def get() -> None:
        i = pos[0] = pos[0] + 1
        k = hot[i % len(hot)]
        if k in od:
            od.move_to_end(k)
            od[k]
        else:
            od[k] = row

    return timeit(insert, repeat=repeat, min_time=0.02), timeit(get, repeat=repeat, min_time=0.02)


# ------------------------------------------------------------------------- 2./3. slow upstream
class SlowSource(Source):
    """A random-access upstream with a fixed latency per call and a cost per row (a remote store)."""

    _fast_paths = frozenset({"blocks"})  # __getitem__ takes every index form: one call per request

    def __init__(self, n: int, per_call: float, per_row: float = 0.0) -> None:
        super().__init__()
        self.n, self.per_call, self.per_row = n, per_call, per_row
        self.data = torch.randn(n, DIM)
        self.calls = 0

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index):
        idx = index_to_array(normalize_index(index, self.n))
        self.calls += 1
        time.sleep(self.per_call + self.per_row * len(idx))
        return Message({"x": self.data[torch.from_numpy(idx)], "id": idx.copy()})


def hit_vs_miss(repeat: int) -> tuple[float, float]:
    n = 1_000_000
    src = CachingSource(SlowSource(n, 0.002), 100_000)
    rng = np.random.default_rng(1)
    hot = rng.choice(n, 64, replace=False)
    src[hot]
    cold = iter(np.arange(0, n - 64, 64))

    def miss() -> None:
        start = next(cold)
        src[np.arange(start, start + 64)[::-1]]

    hit = timeit(lambda: src[hot], repeat=repeat)
    return hit, timeit(miss, repeat=repeat, number=5)


def epoch(n: int, prefetch: bool, step: float) -> float:
    up = SlowSource(n, per_call=0.002, per_row=20e-6)
    cached = CachingSource(up, n // 4, prefetch_rows=None if prefetch else 0, prefetch_chunk=1024)
    batches = BatchingSource(ShufflerSource(cached, seed=0), 128, window_rows=256)
    start = time.perf_counter()
    seen = 0
    for batch in batches:
        seen += len(batch)
        time.sleep(step)  # the training step (GPU work: the GIL is free)
    elapsed = time.perf_counter() - start
    cached.close()
    assert seen == n
    # the cache must read its upstream in blocks: one call per row (a Source not granted "blocks") would
    # make this case measure the upstream's latency instead
    assert up.calls <= n // 32, f"{up.calls} upstream calls for {n} rows"
    return elapsed


# ------------------------------------------------------------------------- 4. larger than memory
CHILD = r"""
import json, sys
mode, path = sys.argv[1], sys.argv[2]
import numpy as np, pandas as pd, pyarrow.parquet as pq, torch
from fireworks import ParquetSource
from fireworks.sources.caching import WindowShuffleSource

def rss_kb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4


base = peak = rss_kb()
total = 0.0
if mode == "fireworks":
    src = WindowShuffleSource(ParquetSource(path, cache_row_groups=1), window=20_000, seed=0).batch(1024)
    for batch in src:
        total += float(batch["c0"].sum())
        peak = max(peak, rss_kb())
else:
    df = pq.read_table(path).to_pandas().sample(frac=1, random_state=0)
    for a in range(0, len(df), 1024):
        total += float(df["c0"].iloc[a : a + 1024].sum())
        peak = max(peak, rss_kb())
print(json.dumps({"base_kb": base, "peak_kb": peak, "total": total}))
"""


def write_parquet(path: Path, n: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    cols = {f"c{k}": rng.random(n) for k in range(16)}
    cols["id"] = np.arange(n)
    pq.write_table(pa.table(cols), path, row_group_size=10_000)


def stream_peak(mode: str, path: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(path)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    args = parse_args(__doc__ or "")
    quick = args.quick
    ok = True

    # 1
    n = 10_000 if quick else 100_000
    result_rows = []
    peer_small = per_row_peer(n, args.repeat)
    for cls in (LRUCache, LFUCache):
        small = per_row(cls, n, args.repeat)
        large = per_row(cls, 10 * n, args.repeat)
        for k, op in enumerate(("insert", "get")):
            result_rows.append(
                Row(
                    f"{cls.__name__} {op} 1 row @ {n:,}",
                    small[k],
                    "OrderedDict of rows",
                    peer_small[k],
                    max_seconds=20e-6,
                )
            )
            result_rows.append(
                Row(
                    f"{cls.__name__} {op} 1 row: {10 * n:,} vs {n:,}",
                    large[k],
                    f"same @ {n:,}",
                    small[k],
                    max_ratio=1.5,
                    max_seconds=20e-6,
                )
            )
    ok &= report("single-row operations (median per operation)", result_rows)

    # 2
    hit, miss = hit_vs_miss(args.repeat)
    ok &= report(
        "CachingSource, upstream with 2 ms latency per call, 64 random rows",
        [
            Row(
                "hit path",
                hit,
                "miss path",
                miss,
                max_ratio=1 / 20,
                note=f"miss/hit = {miss / hit:.0f}x",
            )
        ],
    )

    # 3
    n_epoch = 1024 if quick else 16384
    step = 0.003
    runs: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(1 if quick else 3):  # interleaved, so both see the same machine load
        for hints in (True, False):
            runs[hints].append(epoch(n_epoch, hints, step))
    with_hints, without = min(runs[True]), min(runs[False])
    ok &= report(
        f"shuffled epoch of {n_epoch:,} rows over an upstream of 2 ms/call + 20 us/row, "
        f"{fmt_seconds(step)} per 128-row training step",
        [Row("with prefetch hints", with_hints, "without hints", without, max_ratio=0.6)],
    )

    # 4
    base_rows = 100_000 if quick else 500_000
    with tempfile.TemporaryDirectory() as tmp:
        small_path, big_path = Path(tmp) / "1x.parquet", Path(tmp) / "4x.parquet"
        write_parquet(small_path, base_rows)
        write_parquet(big_path, 4 * base_rows)
        mb = big_path.stat().st_size / 2**20
        ours = [stream_peak("fireworks", p) for p in (small_path, big_path)]
        peer = [stream_peak("pandas", p) for p in (small_path, big_path)]
    growth = ours[1]["peak_kb"] / ours[0]["peak_kb"]
    peer_growth = peer[1]["peak_kb"] / peer[0]["peak_kb"]
    above = [(o["peak_kb"] - o["base_kb"]) / 1024 for o in ours]
    peer_above = [(o["peak_kb"] - o["base_kb"]) / 1024 for o in peer]
    print(
        f"\n== streaming a shuffled Parquet file: {base_rows:,} vs {4 * base_rows:,} rows ({mb:.0f} MiB on disk) =="
    )
    print(
        f"fireworks WindowShuffleSource(window=20,000): peak RSS {ours[0]['peak_kb'] / 1024:.0f} -> "
        f"{ours[1]['peak_kb'] / 1024:.0f} MiB, ratio {growth:.3f} (target < 1.15: {'yes' if growth < 1.15 else 'NO'}); "
        f"above import baseline {above[0]:.0f} -> {above[1]:.0f} MiB"
    )
    print(
        f"pandas read_table + sample(frac=1):      peak RSS {peer[0]['peak_kb'] / 1024:.0f} -> "
        f"{peer[1]['peak_kb'] / 1024:.0f} MiB, ratio {peer_growth:.3f}; above baseline "
        f"{peer_above[0]:.0f} -> {peer_above[1]:.0f} MiB"
    )
    ok &= growth < 1.15
    print(f"\nall cache targets met: {'yes' if ok else 'NO'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
