"""Benchmark: a Fireworks Source pipeline against what users write instead, in one run, as ratios.

Workload 1 (the issue's): a Parquet file of N rows (8 float32 features, an int64 label, a short string);
read -> normalise -> shuffle -> batches of 256 -> tensors -> consume, one epoch. Contenders:

- hand-written: pyarrow read, numpy normalise, one permutation, per-batch gather, ``torch.from_numpy``;
- PyTorch ``DataLoader`` over a map-style Dataset with a batch sampler, 0 and 2 workers;
- ``torchdata.nodes`` (a batch sampler node mapped to a vectorised gather);
- Hugging Face ``datasets`` (``map(batched=True)``, ``shuffle``, ``with_format("torch")``);
- Fireworks: ``ParquetSource(path).map(normalise).shuffle().batch(256).to_tensors()``.

Workload 2: a per-row Python function (tokenising the string column) through ``map_rows``, against the
same function in a plain Python loop.

Workload 1b (issue 12): the same file, features stacked into one float32 ``[n, 8]`` tensor plus the label.
Contenders, each from Parquet and from memory (in memory: the columns are loaded before the clock starts):

- the expert loop: read only the needed columns with pyarrow, stack the features into one float32 array,
  normalise it in place, ``torch.randperm`` once, ``index_select`` per batch;
- Fireworks as the README teaches: ``ParquetSource(path, columns)`` (or ``Source(message)``) ``.map(features)
  .shuffle(seed=0).batch(256).to_tensors()``;
- a ``DataLoader`` over a ``TensorDataset`` with a ``BatchSampler``.

Targets: Fireworks >= 0.9x the expert loop, >= 3x the DataLoader, first batch <= 0.5 s; the per-batch
overhead (Fireworks' time per batch minus the peer's, in µs) is printed next to each ratio.
``--only expert,README,"batch sampler"`` runs just these; ``--torch-threads 1`` pins torch to one thread
(on a loaded machine the default threads of large tensor ops wait on each other).

Each contender runs in its own subprocess, so "peak memory" is that process's peak resident set size
(``ru_maxrss``), honest and comparable. Targets (issue 3): Fireworks >= 0.9x the hand-written rows/s,
>= 3x DataLoader (0 workers), first batch <= 0.5 s, peak memory <= hand-written + 2x the data size,
per-row path >= 100k rows/s.

    python benchmarks/pipeline.py            # 1,000,000 rows
    python benchmarks/pipeline.py --quick    # 20,000 rows, a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

BATCH = 256
FEATURES = [f"f{i}" for i in range(8)]


def make_data(path: Path, rows: int) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    cols: dict[str, Any] = {
        f: rng.normal(i, 1 + i, rows).astype(np.float32) for i, f in enumerate(FEATURES)
    }
    cols["label"] = rng.integers(0, 10, rows)
    words = np.array([f"w{i}" for i in range(500)], dtype=object)
    picks = [words[rng.integers(0, 500, rows)] for _ in range(3)]
    cols["text"] = pa.array([" ".join(t) for t in zip(*picks)])
    table = pa.table(cols)
    pq.write_table(table, path, row_group_size=131072)
    stats = {
        f: (float(pc.mean(table[f]).as_py()), float(pc.stddev(table[f]).as_py())) for f in FEATURES
    }
    return {"stats": stats, "nbytes": int(table.nbytes)}


# ---------------------------------------------------------------------------------------------------
# contenders: each returns an iterator of batches; the harness times the first and the whole epoch


def handwritten(path: str, stats: dict) -> Iterator[Any]:
    import pyarrow.parquet as pq
    import torch

    table = pq.read_table(path)
    cols = {f: (table[f].to_numpy() - stats[f][0]) / stats[f][1] for f in FEATURES}
    cols["label"] = table["label"].to_numpy()
    text = table["text"].to_numpy()
    perm = np.random.default_rng(0).permutation(table.num_rows)
    for a in range(0, table.num_rows, BATCH):
        idx = perm[a : a + BATCH]
        batch = {k: torch.from_numpy(v[idx]) for k, v in cols.items()}
        batch["text"] = text[idx]
        yield batch


def fireworks(path: str, stats: dict) -> Iterator[Any]:
    from fireworks import Message, ParquetSource

    def normalise(m: Message) -> Message:
        out = Message(m)
        for f in FEATURES:
            mean, std = stats[f]
            out[f] = (m[f].to_numpy() - mean) / std
        return out

    yield from ParquetSource(path).map(normalise).shuffle(seed=0).batch(BATCH).to_tensors()


def _numpy_columns(path: str, stats: dict) -> dict[str, np.ndarray]:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    cols = {f: ((table[f].to_numpy() - stats[f][0]) / stats[f][1]) for f in FEATURES}
    cols["label"] = table["label"].to_numpy()
    cols["text"] = table["text"].to_numpy()
    return cols


def dataloader(path: str, stats: dict, workers: int) -> Iterator[Any]:
    import torch
    from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler

    cols = _numpy_columns(path, stats)

    class Rows(Dataset):
        def __len__(self) -> int:
            return len(cols["label"])

        def __getitem__(self, i: int) -> dict[str, Any]:
            return {k: v[i] for k, v in cols.items()}

    ds = Rows()
    sampler = BatchSampler(
        RandomSampler(ds, generator=torch.Generator().manual_seed(0)), BATCH, False
    )
    yield from DataLoader(ds, batch_sampler=sampler, num_workers=workers)


def torchdata_nodes(path: str, stats: dict) -> Iterator[Any]:
    import torch
    from torch.utils.data import BatchSampler, RandomSampler
    from torchdata.nodes import Loader, Mapper, SamplerWrapper

    cols = _numpy_columns(path, stats)
    n = len(cols["label"])
    sampler = BatchSampler(
        RandomSampler(range(n), generator=torch.Generator().manual_seed(0)), BATCH, False
    )

    def gather(idx: list[int]) -> dict[str, Any]:
        ix = np.asarray(idx)
        out: dict[str, Any] = {k: torch.from_numpy(v[ix]) for k, v in cols.items() if k != "text"}
        out["text"] = cols["text"][ix]
        return out

    yield from Loader(Mapper(SamplerWrapper(sampler), gather))


def hf_datasets(path: str, stats: dict) -> Iterator[Any]:
    import datasets

    datasets.disable_progress_bars()
    ds = datasets.Dataset.from_parquet(path, cache_dir=os.environ["BENCH_CACHE"])

    def normalise(batch: dict) -> dict:
        for f in FEATURES:
            batch[f] = (np.asarray(batch[f], dtype=np.float32) - stats[f][0]) / stats[f][1]
        return batch

    ds = ds.map(normalise, batched=True, batch_size=16384).shuffle(seed=0).with_format("torch")
    yield from ds.iter(batch_size=BATCH)


def tokenise(row: dict) -> dict:
    tokens = row["text"].split()
    return {"n_tokens": len(tokens), "first": tokens[0], "label": row["label"]}


def fireworks_rows(path: str, stats: dict) -> Iterator[Any]:
    from fireworks import ParquetSource

    yield from ParquetSource(path).map_rows(tokenise).batch(BATCH)


def python_rows(path: str, stats: dict) -> Iterator[Any]:
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=["text", "label"])
    out = [
        tokenise({"text": t, "label": y})
        for t, y in zip(table["text"].to_pylist(), table["label"].to_pylist())
    ]
    for a in range(0, len(out), BATCH):
        yield out[a : a + BATCH]


# ---------------------------------------------------------------------------------------------------
# workload 1b (issue 12): features stacked into one float32 [n, 8] tensor and the label, from Parquet and
# from memory. In-memory contenders get their data loaded before the clock starts (``prepare``): numpy
# columns for the loops, a Message over the same columns for Fireworks.


def _mean_std(stats: dict) -> tuple[np.ndarray, np.ndarray]:
    mean = np.array([stats[f][0] for f in FEATURES], dtype=np.float32)
    std = np.array([stats[f][1] for f in FEATURES], dtype=np.float32)
    return mean, std


def _expert_epoch(cols: dict[str, np.ndarray], stats: dict) -> Iterator[Any]:
    """What an expert writes: one [n, 8] float32 array normalised in place, one randperm, index_select."""
    import torch

    mean, std = _mean_std(stats)
    x = np.stack([cols[f] for f in FEATURES], axis=1)
    x -= mean
    x /= std
    features, labels = torch.from_numpy(x), torch.from_numpy(cols["label"])
    perm = torch.randperm(features.shape[0], generator=torch.Generator().manual_seed(0))
    for a in range(0, features.shape[0], BATCH):
        idx = perm[a : a + BATCH]
        yield {"x": features.index_select(0, idx), "label": labels.index_select(0, idx)}


def _read_features(path: str) -> dict[str, np.ndarray]:
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=[*FEATURES, "label"])
    return {c: table[c].to_numpy() for c in table.column_names}


def expert_parquet(path: str, stats: dict) -> Iterator[Any]:
    yield from _expert_epoch(_read_features(path), stats)


def expert_memory(cols: dict[str, np.ndarray], stats: dict) -> Iterator[Any]:
    yield from _expert_epoch(cols, stats)


def _stack_features(stats: dict) -> Callable[[Any], Any]:
    import torch

    from fireworks import Message

    mean, std = (torch.from_numpy(v) for v in _mean_std(stats))

    def features(m: Message) -> Message:
        x = m.stack(FEATURES)  # a new [rows, 8] float32 tensor: normalise it in place
        x.sub_(mean).div_(std)
        return Message({"x": x, "label": m["label"]}, copy=False)  # hand the new columns over

    return features


def fireworks_readme_parquet(path: str, stats: dict) -> Iterator[Any]:
    from fireworks import ParquetSource

    src = ParquetSource(path, columns=[*FEATURES, "label"])
    yield from src.map(_stack_features(stats)).shuffle(seed=0).batch(BATCH).to_tensors()


def fireworks_readme_memory(message: Any, stats: dict) -> Iterator[Any]:
    from fireworks import Source

    src = Source(message)
    yield from src.map(_stack_features(stats)).shuffle(seed=0).batch(BATCH).to_tensors()


def _dataloader_epoch(cols: dict[str, np.ndarray], stats: dict) -> Iterator[Any]:
    """A DataLoader over a map-style Dataset of (features, label) rows, with a batch sampler."""
    import torch
    from torch.utils.data import BatchSampler, DataLoader, RandomSampler, TensorDataset

    mean, std = _mean_std(stats)
    x = np.stack([cols[f] for f in FEATURES], axis=1)
    x -= mean
    x /= std
    ds = TensorDataset(torch.from_numpy(x), torch.from_numpy(cols["label"]))
    sampler = BatchSampler(
        RandomSampler(ds, generator=torch.Generator().manual_seed(0)), BATCH, False
    )
    for features, labels in DataLoader(ds, batch_sampler=sampler):
        yield {"x": features, "label": labels}


def dataloader_parquet(path: str, stats: dict) -> Iterator[Any]:
    yield from _dataloader_epoch(_read_features(path), stats)


def dataloader_memory(cols: dict[str, np.ndarray], stats: dict) -> Iterator[Any]:
    yield from _dataloader_epoch(cols, stats)


def _prepare_message(path: str) -> Any:
    from fireworks import Message

    return Message(_read_features(path))


PREPARE: dict[str, Callable[[str], Any]] = {
    "expert loop (memory)": _read_features,
    "fireworks README (memory)": _prepare_message,
    "DataLoader batch sampler (memory)": _read_features,
}
FEATURES_WORKLOAD = {
    "parquet": (
        "expert loop (parquet)",
        "fireworks README (parquet)",
        "DataLoader batch sampler (parquet)",
    ),
    "memory": (
        "expert loop (memory)",
        "fireworks README (memory)",
        "DataLoader batch sampler (memory)",
    ),
}


CONTENDERS: dict[str, Callable[..., Iterator[Any]]] = {
    "hand-written": handwritten,
    "fireworks": fireworks,
    "DataLoader(0 workers)": lambda p, s: dataloader(p, s, 0),
    "DataLoader(2 workers)": lambda p, s: dataloader(p, s, 2),
    "torchdata.nodes": torchdata_nodes,
    "HF datasets": hf_datasets,
    "per-row: python loop": python_rows,
    "per-row: fireworks map_rows": fireworks_rows,
    "expert loop (parquet)": expert_parquet,
    "fireworks README (parquet)": fireworks_readme_parquet,
    "DataLoader batch sampler (parquet)": dataloader_parquet,
    "expert loop (memory)": expert_memory,
    "fireworks README (memory)": fireworks_readme_memory,
    "DataLoader batch sampler (memory)": dataloader_memory,
}


SLOW = {
    "DataLoader(0 workers)",
    "DataLoader(2 workers)",
    "HF datasets",
    "DataLoader batch sampler (parquet)",
    "DataLoader batch sampler (memory)",
}


def _rows_in(batch: Any) -> int:
    """The rows of a batch, counted the container's own way: ``len`` of a list or a Message (reading a
    Message's column would copy it, work the dicts of the other contenders do not do), the label's length
    in a dict."""
    if isinstance(batch, list) or hasattr(batch, "columns"):
        return len(batch)
    return int(batch["label"].shape[0])


WARM = {"torchdata.nodes": ["torchdata.nodes"], "HF datasets": ["datasets"]}


def run_one(name: str, path: str, stats: dict) -> dict[str, Any]:
    import importlib

    # imports are not pipeline work: load them before the clock starts
    for module in [
        "torch",
        "pyarrow.parquet",
        "fireworks.message",
        "fireworks.sources",
        "fireworks.sources.fastpaths",  # (imported on first use inside the library)
        "fireworks._message_io",
        *WARM.get(name, []),
    ]:
        importlib.import_module(module)
    threads = int(os.environ.get("BENCH_TORCH_THREADS", "0"))
    if threads:
        import torch

        torch.set_num_threads(threads)
    data = PREPARE[name](path) if name in PREPARE else path  # in memory: loaded before the clock
    start = time.perf_counter()
    first = None
    rows = 0
    for batch in CONTENDERS[name](data, stats):
        if first is None:
            first = time.perf_counter() - start
        rows += _rows_in(batch)
    total = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"rows": rows, "seconds": total, "first_batch": first, "peak_rss": peak}


WORKLOAD_1 = [n for n in CONTENDERS if n not in PREPARE and "(parquet)" not in n]


def report(results: dict[str, dict[str, Any]], info: dict[str, Any]) -> None:
    """Ratios against each peer, with Fireworks' per-batch overhead in µs, then the targets."""
    targets: list[tuple[str, bool]] = []
    fw, hand = results.get("fireworks"), results.get("hand-written")
    if fw is not None:
        print("\nworkload 1, ratios (Fireworks rows/s over the contender's):")
        for name in WORKLOAD_1:
            r = results.get(name)
            if r is None or name.startswith("per-row") or name == "fireworks":
                continue
            print(f"  ratio vs {name:24s} {fw['rate'] / r['rate']:7.2f}x")
        loader = results.get("DataLoader(0 workers)")
        targets += [
            ("rows/s >= 0.9x hand-written", hand is not None and fw["rate"] >= 0.9 * hand["rate"]),
            (
                "rows/s >= 3x DataLoader(0 workers)",
                loader is not None and fw["rate"] >= 3 * loader["rate"],
            ),
            ("first batch <= 0.5 s", fw["first_batch"] <= 0.5),
            (
                "peak memory <= hand-written + 2x data size",
                hand is not None and fw["peak_rss"] <= hand["peak_rss"] + 2 * info["nbytes"],
            ),
        ]
    rows_fw, rows_py = (
        results.get("per-row: fireworks map_rows"),
        results.get("per-row: python loop"),
    )
    if rows_fw is not None and rows_py is not None:
        print(f"  per-row ratio vs python loop     {rows_fw['rate'] / rows_py['rate']:7.2f}x")
        targets.append(("per-row path >= 100k rows/s", rows_fw["rate"] >= 100_000))
    print("\nworkload 1b: features as one float32 [n, 8] tensor (Fireworks as the README teaches)")
    print(
        "  overhead = Fireworks' time per batch minus the contender's (negative: Fireworks is faster)"
    )
    for where, (expert, fire, loader_name) in FEATURES_WORKLOAD.items():
        f = results.get(fire)
        if f is None:
            continue
        for peer in (expert, loader_name):
            r = results.get(peer)
            if r is None:
                continue
            over = (1 / f["rate"] - 1 / r["rate"]) * BATCH * 1e6
            print(
                f"  {where:8s} ratio vs {peer:36s} {f['rate'] / r['rate']:6.2f}x  "
                f"{over:+8.1f} µs/batch"
            )
        e, d = results.get(expert), results.get(loader_name)
        targets += [
            (
                f"1b {where}: rows/s >= 0.9x the expert loop",
                e is not None and f["rate"] >= 0.9 * e["rate"],
            ),
            (
                f"1b {where}: rows/s >= 3x DataLoader with a batch sampler",
                d is not None and f["rate"] >= 3 * d["rate"],
            ),
            (f"1b {where}: first batch <= 0.5 s", f["first_batch"] <= 0.5),
        ]
    print("\ntargets:")
    for text, ok in targets:
        print(f"  [{'met' if ok else 'MISSED'}] {text}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 rows: a smoke run")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument(
        "--repeat", type=int, default=None, help="runs per fast contender (best kept)"
    )
    parser.add_argument(
        "--only",
        help="run only the contenders whose name contains one of these comma-separated words",
    )
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=0,
        help="torch intra-op threads in every contender (0: torch's default); on a loaded machine the "
        "default threads of large tensor ops wait on each other, so 1 gives steadier numbers",
    )
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    parser.add_argument("--stats", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:  # child process: one contender
        print(json.dumps(run_one(args.one, args.path, json.loads(args.stats))))
        return 0

    rows = args.rows or (20_000 if args.quick else 1_000_000)
    args.repeat = args.repeat or (1 if args.quick else 3)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.parquet"
        info = make_data(path, rows)
        env = {**os.environ, "BENCH_CACHE": str(Path(tmp) / "hf"), "HF_HUB_OFFLINE": "1"}
        env["BENCH_TORCH_THREADS"] = str(args.torch_threads)
        results: dict[str, dict[str, Any]] = {}
        print(f"{rows:,} rows, batches of {BATCH}; data in memory: {info['nbytes'] / 1e6:.1f} MB")
        print(f"torch threads: {args.torch_threads or 'default'}")
        print(
            f"best of {args.repeat} runs for the fast contenders (the machine is shared), 1 for the slow"
        )
        print(f"{'contender':36s} {'rows/s':>12s} {'first batch':>12s} {'peak RSS':>10s}")
        order = [n for n in CONTENDERS if n not in SLOW] * args.repeat + [
            n for n in CONTENDERS if n in SLOW
        ]
        if args.only:
            words = [w.strip() for w in args.only.split(",") if w.strip()]
            order = [n for n in order if any(w in n for w in words)]
        skipped: set[str] = set()
        for name in order:
            if name in skipped:
                continue
            cmd = [sys.executable, __file__, "--one", name, "--path", str(path)]
            cmd += ["--stats", json.dumps(info["stats"])]
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
            if proc.returncode != 0:
                reason = (proc.stderr.strip().splitlines() or ["?"])[-1]
                print(f"{name:36s} skipped: {reason}")
                skipped.add(name)
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            if r["rows"] != rows:
                print(f"{name:36s} delivered {r['rows']} rows instead of {rows}")
                return 1
            r["rate"] = r["rows"] / r["seconds"]
            best = results.setdefault(name, r)
            best["rate"] = max(best["rate"], r["rate"])
            best["first_batch"] = min(best["first_batch"], r["first_batch"])
            best["peak_rss"] = min(best["peak_rss"], r["peak_rss"])
        for name, r in results.items():
            print(
                f"{name:36s} {r['rate']:12,.0f} {r['first_batch']:11.3f}s {r['peak_rss'] / 1e6:8.0f}MB"
            )

        report(results, info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
