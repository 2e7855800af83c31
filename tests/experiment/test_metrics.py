"""Batched logging into an experiment's SQLite tables."""

from __future__ import annotations

import multiprocessing as mp
import sqlite3
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from fireworks import Experiment, Message, load_experiment


def _rows(exp: Experiment, table: str) -> list[tuple]:
    with sqlite3.connect(exp.path / "logs.sqlite") as conn:
        return conn.execute(f'SELECT * FROM "{table}" ORDER BY rowid').fetchall()


def test_metrics_round_trip_with_steps_and_new_columns(tmp_path):
    with Experiment("m", root=tmp_path) as exp:
        for i in range(4):
            exp.log("train", {"loss": torch.tensor(1.0 / (i + 1)), "lr": np.float32(0.1)})
        exp.log("train", {"loss": 0.1, "acc": 0.9}, step=10)
        exp.log("train", {"loss": 0.05})
        m = exp.read("train")
    assert m["step"].tolist() == [0, 1, 2, 3, 10, 11]
    assert m["loss"].tolist() == pytest.approx([1.0, 0.5, 1 / 3, 0.25, 0.1, 0.05])
    acc = m["acc"].tolist()
    assert all(np.isnan(acc[:4])) and acc[4] == 0.9 and np.isnan(acc[5])
    assert (m["time"] > 1e9).all()


def test_rows_are_buffered_until_a_threshold_read_or_close(tmp_path):
    exp = Experiment("m", root=tmp_path)
    exp.logger.flush_rows, exp.logger.flush_seconds = 5, 3600
    for i in range(4):
        exp.log("t", {"x": i})
    assert exp.logger.pending == 4
    with sqlite3.connect(exp.path / "logs.sqlite") as conn:
        assert conn.execute("SELECT name FROM sqlite_master WHERE name = 't'").fetchall() == []
    exp.log("t", {"x": 4})
    assert exp.logger.pending == 0 and len(_rows(exp, "t")) == 5
    exp.log("t", {"x": 5})
    assert len(exp.read("t")) == 6
    exp.log("t", {"x": 6})
    logger = exp.logger
    exp.close()
    assert len(_rows(exp, "t")) == 7
    with pytest.raises(ValueError, match="closed experiment"):
        logger.log("t", {"x": 1})


def test_time_based_flush(tmp_path):
    exp = Experiment("m", root=tmp_path)
    exp.logger.flush_rows, exp.logger.flush_seconds = 10**6, 0.0
    exp.log("t", {"x": 1})
    assert exp.logger.pending == 0 and len(_rows(exp, "t")) == 1


def test_rows_buffered_at_exit_are_written(tmp_path):
    script = textwrap.dedent(
        f"""
        from fireworks import Experiment
        exp = Experiment("atexit", root={str(tmp_path)!r})
        for i in range(10):
            exp.log("t", {{"x": i}})
        assert exp.logger.pending == 10
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    exp = load_experiment(tmp_path / "atexit_0")
    assert exp.read("t")["x"].tolist() == list(range(10))


def test_messages_keep_tensor_columns_and_kinds(tmp_path):
    batch = Message(
        {
            "emb": torch.randn(3, 2, 4),
            "label": torch.tensor([1, 0, 1]),
            "ok": torch.tensor([True, False, True]),
            "name": ["a", "b", "c"],
            "score": np.array([0.5, 0.25, 0.125]),
        }
    )
    with Experiment("m", root=tmp_path) as exp:
        exp.log("preds", batch, step=7)
        exp.log("preds", batch)
    m = load_experiment(exp.path).read("preds")
    assert len(m) == 6
    assert torch.equal(m["emb"], torch.cat([batch["emb"], batch["emb"]]))
    assert m["label"].dtype == torch.int64 and m["label"].tolist() == [1, 0, 1] * 2
    assert m["ok"].dtype == torch.bool
    assert m["name"].tolist() == ["a", "b", "c"] * 2 and m["score"].tolist()[:3] == [
        0.5,
        0.25,
        0.125,
    ]
    assert m["step"].tolist() == [7, 7, 7, 8, 8, 8]


def test_steps_continue_after_reload(tmp_path):
    with Experiment("m", root=tmp_path) as exp:
        for _ in range(3):
            exp.log("t", {"x": 1})
    with load_experiment(exp.path) as again:
        again.log("t", {"x": 2})
        assert again.read("t")["step"].tolist() == [0, 1, 2, 3]
        assert again.tables() == ["t"]


def test_bad_values_are_refused_at_the_call(tmp_path):
    exp = Experiment("m", root=tmp_path)
    with pytest.raises(TypeError, match=r"'w' is a Tensor of shape \(2, 2\); log a Message"):
        exp.log("t", {"w": torch.ones(2, 2)})
    with pytest.raises(TypeError, match="dict of metrics or a Message"):
        exp.log("t", [1, 2])
    with pytest.raises(ValueError, match="reserved"):
        exp.log("_fireworks_columns", {"x": 1})
    with pytest.raises(KeyError, match="no table 'missing'"):
        exp.read("missing")
    assert exp.logger.pending == 0


def _log_from_process(path: str, worker: int) -> None:
    with load_experiment(path) as exp:
        exp.logger.flush_rows = 7
        for i in range(200):
            exp.log("t", {"worker": worker, "i": i})


def test_two_processes_logging_to_one_run(tmp_path):
    exp = Experiment("m", root=tmp_path)
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    procs = [ctx.Process(target=_log_from_process, args=(str(exp.path), w)) for w in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0]
    m = exp.read("t")
    assert len(m) == 400
    for w in range(2):
        assert sorted(m[m["worker"] == w]["i"].tolist()) == list(range(200))


def _log_in_forked_child(exp: Experiment) -> None:
    exp.log("t", {"who": "child"})
    exp.flush()


def test_a_forked_child_can_log_through_the_parents_experiment(tmp_path):
    if "fork" not in mp.get_all_start_methods():
        pytest.skip("needs fork")
    exp = Experiment("m", root=tmp_path)
    exp.log("t", {"who": "parent"})
    exp.flush()
    exp.log(
        "t", {"who": "parent-buffered"}
    )  # pending when forking: the child must not write it again
    child = mp.get_context("fork").Process(target=_log_in_forked_child, args=(exp,))
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 0
    exp.log("t", {"who": "parent-after"})
    assert sorted(exp.read("t")["who"].tolist()) == sorted(
        ["parent", "parent-buffered", "child", "parent-after"]
    )
