"""Per-call cost of logging one metric row: Fireworks' batched logging vs one SQL insert per call vs MLflow.

Same workload for everyone, in the same run: N calls, each logging {loss, accuracy, lr} at step i, everything
durable (committed/written) at the end. Fireworks' time includes its periodic flushes and the final one.

    python benchmarks/experiment.py            # full run
    python benchmarks/experiment.py --quick    # smoke run (the test suite uses it)

Target (issue 6): batched logging >= 20x cheaper per call than one SQL insert per call (measured against
SQLAlchemy INSERT + commit per call on an engine with the same WAL settings; Fireworks' own logger with
``flush_rows=1`` and a raw-sqlite3 per-call insert are printed beside it).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from fireworks import Experiment
from fireworks.experiment._sqlite import sqlite_engine

TARGET = 20.0


def _row(i: int) -> dict[str, float]:
    return {"loss": 1.0 / (i + 1), "accuracy": i / (i + 1), "lr": 0.01}


def _fireworks(folder: Path, n: int, flush_rows: int) -> float:
    exp = Experiment("bench", root=folder)
    exp.log("train", _row(0), step=-1)  # the table exists before timing, as for the peers
    exp.flush()
    exp.logger.flush_rows = flush_rows
    t0 = time.perf_counter()
    for i in range(n):
        exp.log("train", _row(i), step=i)
    exp.flush()
    elapsed = time.perf_counter() - t0
    assert len(exp.read("train")) == n + 1
    exp.close()
    return elapsed


def fireworks_batched(folder: Path, n: int) -> float:
    return _fireworks(folder, n, flush_rows=1000)


def fireworks_unbatched(folder: Path, n: int) -> float:
    """The same logger writing every row at once: one INSERT + commit per call."""
    return _fireworks(folder, n, flush_rows=1)


def sqlite_insert_per_call(folder: Path, n: int) -> float:
    """The cheapest honest per-call insert: raw sqlite3, WAL, synchronous=NORMAL, commit per call."""
    conn = sqlite3.connect(folder / "raw.sqlite")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("CREATE TABLE train (step INTEGER, loss REAL, accuracy REAL, lr REAL, time REAL)")
    t0 = time.perf_counter()
    for i in range(n):
        r = _row(i)
        conn.execute(
            "INSERT INTO train VALUES (?, ?, ?, ?, ?)",
            (i, r["loss"], r["accuracy"], r["lr"], time.time()),
        )
        conn.commit()
    elapsed = time.perf_counter() - t0
    conn.close()
    return elapsed


def sqlalchemy_insert_per_call(folder: Path, n: int) -> float:
    """What a hand-written logger over SQLAlchemy Core does: one INSERT + commit per call."""
    engine = sqlite_engine(folder / "sa.sqlite")
    meta = sa.MetaData()
    table = sa.Table(
        "train",
        meta,
        sa.Column("step", sa.Integer),
        sa.Column("loss", sa.Float),
        sa.Column("accuracy", sa.Float),
        sa.Column("lr", sa.Float),
        sa.Column("time", sa.Float),
    )
    meta.create_all(engine)
    t0 = time.perf_counter()
    with engine.connect() as conn:
        for i in range(n):
            conn.execute(table.insert().values(step=i, time=time.time(), **_row(i)))
            conn.commit()
    elapsed = time.perf_counter() - t0
    engine.dispose()
    return elapsed


def mlflow_file_store(folder: Path, n: int) -> float | None:
    try:
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # maintenance mode in MLflow 3
        import mlflow
    except ImportError:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlflow.set_tracking_uri((folder / "mlruns").as_uri())
        mlflow.set_experiment("bench")
        with mlflow.start_run():
            t0 = time.perf_counter()
            for i in range(n):
                mlflow.log_metrics(_row(i), step=i)
            elapsed = time.perf_counter() - t0
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--calls", type=int, default=None, help="logging calls per contestant")
    args = parser.parse_args(argv)
    n = args.calls or (2_000 if args.quick else 50_000)
    n_slow = max(
        200, n // 10
    )  # per-call inserts and MLflow are slow: time fewer calls, report per call

    contestants: list[tuple[str, Callable[[Path, int], float | None], int]] = [
        ("fireworks exp.log (batched)", fireworks_batched, n),
        ("fireworks, flush every call", fireworks_unbatched, n_slow),
        ("SQLAlchemy INSERT+commit per call", sqlalchemy_insert_per_call, n_slow),
        ("sqlite3 INSERT+commit per call", sqlite_insert_per_call, n_slow),
        ("MLflow log_metrics, file store", mlflow_file_store, max(100, n_slow // 5)),
    ]
    results: dict[str, float | None] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, fn, calls in contestants:
            folder = Path(tmp) / label.split()[0]
            folder.mkdir(exist_ok=True)
            elapsed = fn(folder, calls)
            results[label] = None if elapsed is None else elapsed / calls
    ours = results["fireworks exp.log (batched)"]
    assert ours is not None
    print(
        f"logging one metric row (3 metrics + step), {n} calls for Fireworks, {n_slow} for per-call SQL"
    )
    print(f"{'contestant':<36} {'us/call':>10} {'ratio (them/us)':>16}")
    for label, per_call in results.items():
        if per_call is None:
            print(f"{label:<36} {'n/a':>10} {'(not installed: pip install mlflow-skinny)':>16}")
            continue
        print(f"{label:<36} {per_call * 1e6:>10.2f} {per_call / ours:>15.1f}x")
    per_insert = results["SQLAlchemy INSERT+commit per call"]
    assert per_insert is not None
    ratio = per_insert / ours
    met = "MET" if ratio >= TARGET else "NOT MET"
    print(
        f"target: batched >= {TARGET:.0f}x cheaper than one SQL insert per call (SQLAlchemy, same "
        f"engine settings): ratio {ratio:.1f}x -> {met}"
    )
    raw = results["sqlite3 INSERT+commit per call"]
    assert raw is not None
    print(
        f"note: vs hand-written raw sqlite3 (WAL, synchronous=NORMAL, no fsync per commit) the ratio "
        f"is {raw / ours:.1f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
