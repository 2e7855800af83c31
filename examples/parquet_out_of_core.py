"""A Parquet dataset larger than the cache, streamed shuffled through a bounded cache into a model.

A full random permutation over data that does not fit in memory touches every row group in every batch. The
usual fix is a *block shuffle*: visit the row groups in a random order and shuffle rows within a window of a
few groups that fits in the cache. Here the permutation is computed with numpy (``window_permutation``), the
rows are pulled through ``ParquetSource → CachingSource(cache_size)`` by an ``IndexMapSource``, and the
batcher's hints let the cache fetch the next rows in the background. The script checks that every row is
seen exactly once per epoch, that the cache never holds more than its size, and that the file is read
about once per epoch.

    python examples/parquet_out_of_core.py                     # 400,000 rows (~27 MB), cache of 40,000 rows
    python examples/parquet_out_of_core.py --rows 40000 --cache 8000
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from tqdm.auto import tqdm

from fireworks import CachingSource, IndexMapSource, ParquetSource

FEATURES = 16


def write_dataset(path: Path, rows: int, row_group: int, seed: int) -> None:
    """Synthetic binary classification: 16 float32 features, a linear rule plus noise, a row id."""
    rng = np.random.default_rng(seed)
    weights = rng.normal(size=FEATURES).astype(np.float32)
    with pq.ParquetWriter(
        path,
        pa.schema([("id", pa.int64()), ("x", pa.list_(pa.float32(), FEATURES)), ("y", pa.int64())]),
    ) as writer:
        for start in range(0, rows, row_group):
            n = min(row_group, rows - start)
            x = rng.normal(size=(n, FEATURES)).astype(np.float32)
            y = ((x @ weights + 0.3 * rng.normal(size=n)) > 0).astype(np.int64)
            flat = pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), FEATURES)
            ids = pa.array(np.arange(start, start + n, dtype=np.int64))
            writer.write_table(pa.table({"id": ids, "x": flat, "y": pa.array(y)}))


def window_permutation(sizes: np.ndarray, window: int, rng: np.random.Generator) -> np.ndarray:
    """Row order for one epoch: row groups in random order, rows shuffled within windows of ``window`` groups."""
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    groups = rng.permutation(len(sizes))
    lengths = sizes[groups]
    rows = np.repeat(starts[groups] - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    rows += np.arange(int(lengths.sum()))
    window_of = np.repeat(np.arange(len(groups)) // window, lengths)
    return rows[np.lexsort((rng.random(len(rows)), window_of))]


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=400_000, help="rows in the Parquet file")
    parser.add_argument("--row-group", type=int, default=10_000, help="rows per Parquet row group")
    parser.add_argument("--cache", type=int, default=40_000, help="rows the cache may hold")
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--folder", type=Path, default=None, help="where to write the file (default: a temp folder)"
    )
    args = parser.parse_args(argv)
    if args.cache >= args.rows:
        raise ValueError(
            f"--cache must be smaller than --rows to make the point, but got {args.cache} >= {args.rows}"
        )
    window = max(
        1, args.cache // (2 * args.row_group)
    )  # groups per window: half the cache, room to prefetch
    if args.folder is None:
        with tempfile.TemporaryDirectory(prefix="fireworks_parquet_") as tmp:
            return run(args, Path(tmp) / "data.parquet", window)
    args.folder.mkdir(parents=True, exist_ok=True)
    return run(args, args.folder / "data.parquet", window)


def run(args: argparse.Namespace, path: Path, window: int) -> dict[str, Any]:
    write_dataset(path, args.rows, args.row_group, args.seed)

    table = ParquetSource(
        path, cache_row_groups=1
    )  # keep one decoded row group, not the whole file
    cached = CachingSource(table, cache_size=args.cache)
    sizes = np.array(
        [
            pq.ParquetFile(path).metadata.row_group(i).num_rows
            for i in range(pq.ParquetFile(path).num_row_groups)
        ]
    )
    print(
        f"{path}: {path.stat().st_size / 1e6:.1f} MB, {args.rows} rows in {len(sizes)} row groups; cache {args.cache} rows"
    )

    torch.manual_seed(args.seed)
    model = torch.nn.Linear(FEATURES, 2)
    optimiser = torch.optim.SGD(model.parameters(), lr=0.1)
    rng = np.random.default_rng(args.seed)
    largest_cache = 0
    per_epoch = []
    for epoch in range(args.epochs):
        order = window_permutation(sizes, window, rng)
        batches = IndexMapSource(cached, order).batch(args.batch_size).to_tensors()
        seen = np.zeros(args.rows, dtype=np.int64)
        correct = 0
        for batch in tqdm(batches, desc=f"epoch {epoch}", unit="batch", leave=False):
            x = batch["x"].float()
            logits = model(x)
            loss = torch.nn.functional.cross_entropy(logits, batch["y"])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            correct += int((logits.argmax(1) == batch["y"]).sum())
            np.add.at(seen, batch["id"].numpy(), 1)
            largest_cache = max(largest_cache, len(cached.message_cache))
        per_epoch.append(
            {"each_row_once": bool((seen == 1).all()), "accuracy": correct / args.rows}
        )
        print(
            f"epoch {epoch}: every row once: {per_epoch[-1]['each_row_once']}, accuracy {correct / args.rows:.3f}"
        )

    stats = cached.stats
    fetched = stats["misses"] + stats.get("prefetched", 0)
    result = {
        "rows": args.rows,
        "cache_size": args.cache,
        "largest_cache": largest_cache,
        "file_reads_per_epoch": fetched / (args.rows * args.epochs),
        "each_row_once": all(e["each_row_once"] for e in per_epoch),
        "accuracy": per_epoch[-1]["accuracy"],
        "cache_stats": stats,
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
