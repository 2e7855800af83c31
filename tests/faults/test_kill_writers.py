"""Every writer killed with SIGKILL at many points of a write leaves the old state or the new one, never a
mix, and the next process can go on writing.

A forked child makes the write while counting every Python and C function call (``sys.setprofile``), and
kills itself with SIGKILL at call number N: N runs over FIREWORKS_FAULT_POINTS points spread evenly across
the whole write (first measured by an uninterrupted write), so the kill lands in Fireworks' own code, in
SQLAlchemy, in the database driver, between ``write``/``fsync``/``rename`` and inside transactions. After
each kill the parent reads the state back, and another child writes again.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from fireworks import (
    Experiment,
    Factory,
    Message,
    Source,
    TableSource,
    load_experiment,
    save_checkpoint,
)
from fireworks.experiment.checkpoint import read_checkpoint

from ._harness import KILLED, child_ok, in_child, kill_points
from .conftest import KILL_POINTS

BATCH = 40
# each kill point costs a traced write, a read-back and another write: allow for many points
pytestmark = pytest.mark.timeout(max(300, 15 * KILL_POINTS))


def _judge_rows(counts: Counter[str], before: list[Any], after: list[Any], batch: list[Any]) -> str:
    """Compare append-only states (lists of row tuples): "old", "new", or count what went wrong."""
    counts["rows_checked"] += len(after)
    have = Counter(after)
    lost = sum(1 for r in set(before) if have[r] < Counter(before)[r])
    duplicated = sum(n - 1 for n in have.values() if n > 1)
    present = sum(1 for r in batch if have[r])
    foreign = sum(n for r, n in have.items() if r not in set(before) | set(batch))
    counts["lost"] += lost
    counts["duplicated"] += duplicated
    half = present not in (0, len(batch)) or foreign
    counts["half_written"] += int(bool(half))
    assert not (lost or duplicated or half), (
        f"lost {lost}, duplicated {duplicated}, {present} of {len(batch)} new rows present, "
        f"{foreign} rows from nowhere"
    )
    return "new" if present else "old"


def _kill_sweep(
    counts: Counter[str],
    write: Callable[[int], Any],
    state: Callable[[], Any],
    judge: Callable[[Any, Any, int], str],
) -> Counter[str]:
    """Write batches 0 and 1 whole (measuring their calls: the first may create a table), then for each kill
    point: kill a write of a new batch there, judge the state against the one before, and let the next
    process write another batch."""
    outcome: Counter[str] = Counter()
    calls = []
    after = state()
    for k in (0, 1):
        before = after
        code, out = in_child(lambda k=k: write(k))
        assert code == 0, out
        calls.append(out["calls"])
        after = state()
        assert judge(before, after, k) == "new"
    for i, point in enumerate(kill_points(min(calls), KILL_POINTS), start=2):
        before = after
        code, out = in_child(lambda i=i: write(i), kill_at=point)
        assert code in (0, KILLED), out
        counts["writes_interrupted" if code == KILLED else "writes_completed"] += 1
        after = state()
        outcome[judge(before, after, i)] += 1
        if code == 0:
            assert judge(before, after, i) == "new"
        before, nxt = after, 10_000 + i
        child_ok(lambda nxt=nxt: write(nxt))
        counts["continued_writes"] += 1
        after = state()
        assert judge(before, after, nxt) == "new"
    return outcome


# --- metric logger -----------------------------------------------------------------------------------


def _metric_rows(k: int) -> list[tuple[Any, ...]]:
    return [(k, j, float(k * 1000 + j)) for j in range(BATCH)]


def test_metric_logger(tmp_path, counts):
    exp = Experiment("killed", root=tmp_path)
    exp.log("train", {"k": -1, "j": 0, "loss": 0.0})
    exp.close()
    path = exp.path

    def write(k: int) -> None:
        run = load_experiment(path)
        for k_, j, loss in _metric_rows(k):
            # a new metric column and a new table in the same flush as the rows
            run.log("train", {"k": k_, "j": j, "loss": loss, f"extra_{k}": j})
            run.log(f"new_{k}", {"k": k_, "j": j, "loss": loss})
        run.close()

    def state() -> dict[str, list[tuple[Any, ...]]]:
        run = load_experiment(path)
        try:
            out = {}
            for table in run.tables():
                m = run.read(table)
                out[table] = list(zip(m["k"].tolist(), m["j"].tolist(), m["loss"].tolist()))
                if table == "train":
                    out["train columns"] = sorted(m.columns)
            return out
        finally:
            run.close()

    def judge(before: dict, after: dict, k: int) -> str:
        verdict = _judge_rows(
            counts, before["train"], after["train"], [r for r in _metric_rows(k) if k >= 0]
        )
        # a new column and a new table appear with their rows, in the same transaction
        columns = before["train columns"] + ([f"extra_{k}"] if verdict == "new" else [])
        if after["train columns"] != sorted(columns):
            counts["half_written"] += 1
            raise AssertionError(f"after a {verdict!r} write, 'train' has {after['train columns']}")
        expected = _metric_rows(k) if verdict == "new" else None
        if after.get(f"new_{k}") != expected:
            counts["half_written"] += 1
            raise AssertionError(
                f"after a {verdict!r} write to 'train', table new_{k} holds {after.get(f'new_{k}')}"
            )
        counts["rows_checked"] += len(expected or [])
        return verdict

    outcome = _kill_sweep(counts, write, state, judge)
    assert sum(outcome.values()) >= min(KILL_POINTS, 5)


# --- TableSource ------------------------------------------------------------------------------------


def _table_rows(k: int) -> Message:
    return Message(
        {
            "k": torch.full((BATCH,), k),
            "j": torch.arange(BATCH),
            "v": torch.randn(BATCH, 3, generator=torch.Generator().manual_seed(k)),
            "s": [f"row {k}.{j}" for j in range(BATCH)],
        }
    )


def _as_rows(m: Message) -> list[tuple[Any, ...]]:
    if not len(m):
        return []
    v = [tuple(np.round(r, 5)) for r in np.asarray(m["v"]).reshape(len(m), -1).tolist()]
    return list(zip(m["k"].tolist(), m["j"].tolist(), v, list(m["s"])))


def test_table_source(url, table_name, counts):
    def write(k: int) -> None:
        with TableSource(table_name, url) as table:  # commits on leaving the block
            table.insert(_table_rows(k))

    def state() -> list[tuple[Any, ...]]:
        table = TableSource(table_name, url)
        if table.table is None:
            return []
        return _as_rows(table.query().all())

    def judge(before: list, after: list, k: int) -> str:
        return _judge_rows(counts, before, after, _as_rows(_table_rows(k)))

    try:
        _kill_sweep(counts, write, state, judge)
    finally:
        _drop(url, table_name)


SUB = 8  # rows per batch of the pass-through form


def test_table_source_pass_through(url, table_name, counts):
    # with inputs, each batch that flows through is its own transaction: a kill leaves whole batches, in order
    def write(k: int) -> None:
        writer = TableSource(table_name, url, inputs=Source(_table_rows(k)).batch(SUB))
        for _ in writer:
            pass

    def state() -> list[tuple[Any, ...]]:
        table = TableSource(table_name, url)
        return [] if table.table is None else _as_rows(table.query().all())

    def judge(before: list, after: list, k: int) -> str:
        rows = _as_rows(_table_rows(k))
        batches = [rows[a : a + SUB] for a in range(0, len(rows), SUB)]
        have = Counter(after)
        present = [sum(1 for r in b if have[r]) for b in batches]
        half = any(p not in (0, len(b)) for p, b in zip(present, batches))
        gap = any(not present[i] and present[i + 1] for i in range(len(batches) - 1))
        counts["half_written"] += int(half or gap)
        assert not (half or gap), f"batches must be whole and in order: {present}"
        _judge_rows(counts, before, after, [r for b, p in zip(batches, present) if p for r in b])
        return "new" if all(present) else "old" if not any(present) else "whole batches"

    try:
        _kill_sweep(counts, write, state, judge)
    finally:
        _drop(url, table_name)


def _drop(url: str, table: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        for name in (table,):
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {name}"))
    engine.dispose()


# --- files: checkpoints, Messages, metadata -----------------------------------------------------------


def _model_state(k: int) -> dict[str, Any]:
    g = torch.Generator().manual_seed(k)
    return {"weight": torch.randn(64, 64, generator=g), "step": k, "note": f"version {k}"}


def _judge_file(counts: Counter[str], states: Callable[[int], Any], read: Callable[[], Any]):
    def judge(before: Any, after: Any, k: int) -> str:
        counts["rows_checked"] += 1
        if _equal(after, states(k)):
            return "new"
        if _equal(after, before):
            return "old"
        counts["half_written"] += 1
        raise AssertionError(
            f"the file holds neither the old state nor the new one after write {k}"
        )

    return judge


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return torch.equal(a, b)
    if isinstance(a, Message) and isinstance(b, Message):
        return bool(a == b)
    return type(a) is type(b) and a == b


def test_save_checkpoint(tmp_path, counts):
    path = tmp_path / "model.ckpt"
    save_checkpoint(_model_state(-1), path)
    _kill_sweep(
        counts,
        lambda k: save_checkpoint(_model_state(k), path),
        lambda: read_checkpoint(path),
        _judge_file(counts, _model_state, lambda: read_checkpoint(path)),
    )


def _message(k: int) -> Message:
    g = torch.Generator().manual_seed(k)
    return Message({"x": torch.randn(500, 8, generator=g), "s": [f"{k}-{i}" for i in range(500)]})


def test_message_save(tmp_path, counts):
    path = tmp_path / "data.arrow"
    _message(-1).save(path)
    _kill_sweep(
        counts,
        lambda k: _message(k).save(path),
        lambda: Message.load(path),
        _judge_file(counts, _message, lambda: Message.load(path)),
    )


def _meta(k: int) -> dict[str, Any]:
    return {"version": k, "history": list(range(k % 7, 2000))}


def test_experiment_metadata(tmp_path, counts):
    with Experiment("meta", root=tmp_path) as exp:
        exp.metadata.update(_meta(-1))
    path = exp.path

    def write(k: int) -> None:
        load_experiment(path).metadata.update(_meta(k))

    def state() -> dict[str, Any]:
        data = json.loads((Path(path) / "metadata.json").read_text())
        return {key: data[key] for key in ("version", "history")}

    _kill_sweep(counts, write, state, _judge_file(counts, _meta, state))


# --- Factory storage --------------------------------------------------------------------------------


def _factory(storage: str) -> Factory:
    return Factory(
        lambda p: p["x"],
        lambda model, p: {"score": model * 2.0},
        lambda history: {"x": len(history)},
        storage=storage,
        executor="inline",
        progress=False,
    )


def test_factory_storage(tmp_path, counts):
    storage = f"sqlite:///{tmp_path / 'trials.sqlite'}"

    def write(k: int) -> None:
        _factory(storage).run(max_trials=2)

    def state() -> list[tuple[Any, ...]]:
        return [
            (t.id, t.status, t.params.get("x"), t.metrics.get("score"))
            for t in _factory(storage).history()
        ]

    def judge(before: list, after: list, k: int) -> str:
        counts["rows_checked"] += len(after)
        ids = [t[0] for t in after]
        assert ids == list(range(len(ids))), (
            f"trial ids must be 0..n-1 without gaps or repeats: {ids}"
        )
        for tid, status, x, score in after:
            assert x == tid, "a trial's params must be the ones it was created with"
            if status == "complete":
                assert score == 2.0 * x, f"a complete trial must have its metrics: {(tid, score)}"
            else:
                assert status == "failed" and score is None, f"trial {tid}: {status} {score}"
        done = after[: len(before)]
        lost = sum(1 for b, a in zip(before, done) if b != a)
        counts["lost"] += lost
        assert not lost, "trials stored before the write changed"
        return "new" if len(after) > len(before) else "old"

    _kill_sweep(counts, write, state, judge)
