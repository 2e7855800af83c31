"""Every reader fed every truncation of a good file, and files of random bytes, must either raise
CorruptFileError naming the file or read the whole, exact data — never crash, hang or read fewer rows.

The one honest exception is a CSV or JSON Lines file cut exactly at a line break: what is left is a complete,
shorter file, and nothing in the format says more lines should follow. Those reads must give exactly the rows
before the cut (counted as "line-boundary cuts"); a cut anywhere inside a line is an error.
Each reader runs in a forked child, so a crash or a hang fails the test instead of taking pytest down.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from fireworks import (
    CSVSource,
    Experiment,
    JSONLinesSource,
    Message,
    ParquetSource,
    load_experiment,
    save_checkpoint,
)
from fireworks.experiment.checkpoint import read_checkpoint

from ._harness import child_ok, classify

ROWS = 30
# every byte of the small files; SQLite files are read every SQLITE_STEP bytes after their 100-byte header
SQLITE_STEP = int(os.environ.get("FIREWORKS_FAULT_SQLITE_STEP", "37"))
RANDOM_FILES = 12


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "x": np.arange(ROWS),
            "y": rng.normal(size=ROWS).round(6),
            "s": [f"name{i}" for i in range(ROWS)],
        }
    )


def _message() -> Message:
    df = _frame()
    return Message(
        {
            "x": torch.arange(ROWS),
            "img": torch.randn(ROWS, 2, 3),
            "s": df["s"],
            "c": pd.Categorical(["a", "b", "c"] * (ROWS // 3)),
        }
    )


def _random_files(path: Path, size: int) -> list[bytes]:
    rng = np.random.default_rng(size)
    return [
        rng.integers(0, 256, int(rng.integers(1, 2 * size)), dtype=np.uint8).tobytes()
        for _ in range(RANDOM_FILES)
    ]


def _sweep(
    tmp_path: Path,
    name: str,
    data: bytes,
    read: Any,
    whole: Any,
    line_rows: Any = None,
    cuts: list[int] | None = None,
) -> dict[str, int]:
    """In a forked child: write every truncation (``cuts``, default every length) and the random files to
    ``tmp_path/name``, read each with ``read(path)`` and count the outcomes."""
    target = tmp_path / name

    def run() -> dict[str, Any]:
        outcomes: Counter[str] = Counter()
        bad: list[str] = []

        def one(kind: str, content: bytes, accept: dict[str, Any]) -> None:
            target.write_bytes(content)
            label = classify(target, lambda: read(target), accept)
            outcomes[f"{kind}:{label.split(':')[0]}"] += 1
            if label.startswith(("silent", "wrong")) and len(bad) < 5:
                bad.append(f"{kind} {len(content)} bytes: {label}")

        for n in cuts if cuts is not None else range(len(data)):
            accept: dict[str, Any] = {}
            if line_rows is not None and data[:n].endswith(b"\n"):
                accept["line-boundary"] = line_rows(data[:n])
            one("cut", data[:n], accept)
        for content in _random_files(target, len(data)):
            one("random", content, {})
        return {"outcomes": dict(outcomes), "bad": bad}

    out = child_ok(run, timeout=300)
    assert not out["bad"], f"{name}: " + "\n".join(out["bad"])
    return out["outcomes"]


def _count(counts: Counter[str], outcomes: dict[str, int]) -> None:
    for key, n in outcomes.items():
        kind, label = key.split(":")
        counts["truncations" if kind == "cut" else "random_files"] += n
        if label == "silent":
            counts["silently_accepted"] += n
        if label == "line-boundary":
            counts["line_boundary_cuts"] += n
    assert not any(k.endswith((":silent", ":wrong error")) for k in outcomes), outcomes


def test_message_files(tmp_path, counts):
    msg = _message()
    msg.save(tmp_path / "good.arrow")
    data = (tmp_path / "good.arrow").read_bytes()
    outcomes = _sweep(tmp_path, "m.arrow", data, Message.load, {})
    _count(counts, outcomes)
    assert outcomes["cut:damaged"] == len(data)


def _state() -> dict[str, Any]:
    return {
        "w": torch.randn(4, 3),
        "b": torch.zeros(0),
        "rng": np.random.default_rng(1).bit_generator.state,
        "step": 12,
        "keys": {(1, 2): "tuple key", 3: [1.5, float("inf")]},
    }


def test_checkpoints(tmp_path, counts):
    save_checkpoint(_state(), tmp_path / "good.ckpt")
    data = (tmp_path / "good.ckpt").read_bytes()
    outcomes = _sweep(tmp_path, "c.ckpt", data, read_checkpoint, {})
    _count(counts, outcomes)
    assert outcomes["cut:damaged"] == len(data)


def test_checkpoint_byte_flips(tmp_path, counts):
    # checkpoints carry CRC-32s of their header and data: any changed byte is caught
    save_checkpoint(_state(), tmp_path / "good.ckpt")
    data = (tmp_path / "good.ckpt").read_bytes()
    target = tmp_path / "flipped.ckpt"

    def run() -> dict[str, int]:
        out: Counter[str] = Counter()
        rng = np.random.default_rng(7)
        for i in range(len(data)):
            flipped = bytearray(data)
            flipped[i] ^= int(rng.integers(1, 256))
            target.write_bytes(bytes(flipped))
            out[classify(target, lambda: read_checkpoint(target), {}).split(":")[0]] += 1
        return dict(out)

    outcomes = child_ok(run)
    counts["random_files"] += sum(outcomes.values())
    counts["silently_accepted"] += outcomes.get("silent", 0)
    assert outcomes == {"damaged": len(data)}


def _read_source(src: Any) -> list[list[str]]:
    parts = [m.to_pandas() for m in src]
    if not parts:
        return []
    df = pd.concat(parts, ignore_index=True)
    return df.astype(str).values.tolist()


def _rows_of(df: pd.DataFrame) -> list[list[str]]:
    return df.astype(str).values.tolist()


def test_parquet_files(tmp_path, counts):
    table = pa.Table.from_pandas(_frame(), preserve_index=False)
    pq.write_table(table, tmp_path / "good.parquet", row_group_size=8)
    data = (tmp_path / "good.parquet").read_bytes()
    whole = _rows_of(_frame())
    outcomes = _sweep(
        tmp_path, "p.parquet", data, lambda p: _read_source(ParquetSource(p)), {"whole": whole}
    )
    _count(counts, outcomes)
    assert outcomes["cut:damaged"] == len(data)


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_text_files(tmp_path, counts, kind):
    df = _frame()
    good = tmp_path / f"good.{kind}"
    if kind == "csv":
        df.to_csv(good, index=False)
        reader, header = (lambda p: _read_source(CSVSource(p, chunk_size=7))), 1
    else:
        df.to_json(good, orient="records", lines=True)
        reader, header = (lambda p: _read_source(JSONLinesSource(p, chunk_size=7))), 0
    data = good.read_bytes()

    def line_rows(prefix: bytes) -> list[list[str]]:
        return _rows_of(df.iloc[: prefix.count(b"\n") - header])

    outcomes = _sweep(tmp_path, f"t.{kind}", data, reader, {}, line_rows)
    _count(counts, outcomes)
    assert outcomes["cut:line-boundary"] == ROWS - 1 + header  # after each line but the last
    assert outcomes["cut:damaged"] == len(data) - outcomes["cut:line-boundary"]


def test_sqlite_files_of_an_experiment(tmp_path, counts):
    with Experiment("logs", root=tmp_path / "runs") as exp:
        for i in range(200):
            exp.log("train", {"loss": 1.0 / (i + 1), "note": f"step {i}"})
        exp.log("eval", Message({"acc": torch.rand(5), "emb": torch.randn(5, 4)}))
        exp.flush()
        whole = {"train": exp.read("train"), "eval": exp.read("eval")}
    folder = exp.path
    data = (folder / "logs.sqlite").read_bytes()
    assert (
        not (folder / "logs.sqlite-wal").exists() or not (folder / "logs.sqlite-wal").stat().st_size
    )
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)

    def read(path: Path) -> dict[str, Any]:
        run = load_experiment(path.parent)
        try:
            return {"train": run.read("train"), "eval": run.read("eval")}
        finally:
            run.close()
            for side in ("-wal", "-shm"):
                Path(f"{path}{side}").unlink(missing_ok=True)

    cuts = list(range(1, 101)) + list(range(101, len(data), SQLITE_STEP))
    outcomes = _sweep(copy, "logs.sqlite", data, read, {"whole": whole}, cuts=cuts)
    _count(counts, outcomes)
    assert outcomes["cut:damaged"] > len(cuts) // 2


def test_experiment_metadata_files(tmp_path, counts):
    with Experiment("meta", root=tmp_path / "runs") as exp:
        exp.metadata.update({"lr": 0.1, "layers": [64, 64], "note": "ünïcode"})
    data = (exp.path / "metadata.json").read_bytes()
    copy = tmp_path / "copy"
    shutil.copytree(exp.path, copy)
    whole = dict(load_experiment(exp.path).metadata)

    def read(path: Path) -> dict[str, Any]:
        return dict(load_experiment(path.parent).metadata)

    outcomes = _sweep(
        copy, "metadata.json", data, read, {"whole": whole}, cuts=list(range(1, len(data)))
    )
    _count(counts, outcomes)
    assert outcomes["cut:damaged"] == len(data) - 1


def test_sqlite_files_shown_by_the_cli(tmp_path, counts):
    from fireworks.experiment.cli import sqlite_tables

    with Experiment("cli", root=tmp_path / "runs") as exp:
        for i in range(100):
            exp.log("train", {"loss": float(i)})
    data = (exp.path / "logs.sqlite").read_bytes()
    target = tmp_path / "logs.sqlite"
    whole = sqlite_tables(exp.path / "logs.sqlite")
    cuts = list(range(1, 101)) + list(range(101, len(data), SQLITE_STEP))
    outcomes = _sweep(tmp_path, target.name, data, sqlite_tables, {"whole": whole}, cuts=cuts)
    _count(counts, outcomes)
    assert outcomes["cut:damaged"] > len(cuts) // 2
