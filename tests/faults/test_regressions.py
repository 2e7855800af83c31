"""The four crash-safety bugs of issue 16, each with the test that failed before the fix."""

from __future__ import annotations

import multiprocessing as mp
import sqlite3
import struct
import threading
import time

import pytest
import sqlalchemy as sa
import torch

from fireworks import CorruptFileError, Experiment, Message, Source, TableSource, load_experiment
from fireworks.experiment.checkpoint import MAGIC, read_checkpoint

METRICS = [
    f"m{i}" for i in range(24)
]  # many columns: a table made column by column is half-made longer
ROUNDS = 6
WRITERS = 4


def _log_first_rows(path: str, barrier: mp.synchronize.Barrier, worker: int) -> None:
    exp = load_experiment(path)
    for r in range(ROUNDS):
        barrier.wait(timeout=60)
        exp.log(f"new_{r}", {**{m: float(worker) for m in METRICS}, "worker": worker})
        exp.flush()
    exp.close()


def test_processes_logging_the_first_row_of_one_new_table_at_once(tmp_path, counts):
    # Before the fix: some processes died with "no such column: step", seeing a table created with one
    # column whose other columns were still being added by separate, committed ALTER TABLEs.
    exp = Experiment("race", root=tmp_path)
    exp.close()
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(WRITERS)
    procs = [
        ctx.Process(target=_log_first_rows, args=(str(exp.path), barrier, w))
        for w in range(WRITERS)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    counts["concurrent_writers"] += WRITERS
    assert [p.exitcode for p in procs] == [0] * WRITERS
    again = load_experiment(exp.path)
    for r in range(ROUNDS):
        rows = again.read(f"new_{r}")
        counts["rows_checked"] += len(rows)
        assert sorted(rows["worker"].tolist()) == list(range(WRITERS))
        assert set(rows.columns) == {*METRICS, "worker", "step", "time"}
        assert all(rows[m].tolist() == rows["worker"].astype(float).tolist() for m in METRICS)
    again.close()


def test_a_message_file_cut_right_after_its_schema_is_refused(tmp_path, counts):
    # Before the fix: it loaded as an empty Message.
    msg = Message({"x": torch.arange(6), "name": list("abcdef")})
    path = tmp_path / "m.arrow"
    msg.save(path)
    data = path.read_bytes()
    schema_len = len(msg.to_arrow().schema.serialize())
    path.write_bytes(data[:schema_len])
    counts["truncations"] += 1
    with pytest.raises(CorruptFileError, match=r"m\.arrow is damaged: .*cut short"):
        Message.load(path)


def test_a_checkpoint_with_a_valid_header_and_garbage_is_called_corrupt(tmp_path, counts):
    # Before the fix: a bare UnicodeDecodeError.
    path = tmp_path / "model.ckpt"
    garbage = bytes(range(128, 256))
    path.write_bytes(MAGIC + struct.pack("<Q", len(garbage)) + garbage)
    counts["random_files"] += 1
    with pytest.raises(CorruptFileError, match=r"model\.ckpt is damaged: corrupt checkpoint"):
        read_checkpoint(path)


def test_experiment_engines_keep_ddl_inside_transactions(tmp_path):
    # Before the fix the experiment's engines left transactions to the sqlite3 module, which commits DDL
    # on its own: a failed transaction still left the table it created behind.
    with Experiment("ddl", root=tmp_path) as exp:
        engine = exp.get_engine("data")
        with pytest.raises(RuntimeError, match="stop"), engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE half (a INTEGER)")
            raise RuntimeError("stop")
        assert not sa.inspect(engine).has_table("half")


def test_experiment_engines_wait_while_another_process_locks_the_file(tmp_path):
    # The shared policy on an experiment's file that another process holds locked: opening it waits (busy
    # timeout, and retrying the switch to WAL), then works.
    with Experiment("locked", root=tmp_path) as exp:
        path = exp.path / "data.sqlite"
        other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        other.execute("CREATE TABLE t (a INTEGER)")
        other.execute("BEGIN EXCLUSIVE")
        release = threading.Timer(1.0, lambda: other.execute("COMMIT"))
        release.start()
        try:
            start = time.monotonic()
            with exp.get_engine("data").connect() as conn:
                mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
            assert mode == "wal"
            assert time.monotonic() - start >= 0.5
        finally:
            release.join()
            other.close()


def test_a_pass_through_table_source_writes_every_batch_of_a_for_loop(tmp_path, counts):
    # Before the fix: iterating a TableSource over a batched, random-access input fetched several batches
    # as one window past the TableSource, and wrote nothing.
    url = f"sqlite:///{tmp_path / 'pass.sqlite'}"
    msg = Message({"k": torch.arange(20), "s": [str(i) for i in range(20)]})
    writer = TableSource("through", url, inputs=Source(msg).batch(8))
    assert [len(batch) for batch in writer] == [8, 8, 4]
    rows = TableSource("through", url).query().all()
    counts["rows_checked"] += len(rows)
    assert rows["k"].tolist() == list(range(20))


def test_opening_a_second_engine_keeps_the_locks_of_the_first(tmp_path):
    # Before the fix: every new connection read the file's header with open()/close() (check_file), and
    # closing any descriptor of a file drops every POSIX lock the process holds on it, SQLite's included.
    # Another process closing its connection then believed it was the last one, checkpointed and deleted
    # the -wal/-shm files under this process's open connections, and a new engine here went on reading the
    # deleted index: it missed rows other processes had committed (a Factory's history() missed trials).
    import os
    import subprocess
    import sys

    from fireworks._sqlite import prepare_sqlite

    path = str(tmp_path / "v.sqlite")

    def engine() -> sa.Engine:
        return prepare_sqlite(sa.create_engine(f"sqlite:///{path}"))

    def count(e: sa.Engine) -> int:
        with e.connect() as conn:
            return conn.exec_driver_sql("SELECT count(*) FROM t").scalar()

    first = engine()
    with first.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x)")
    with first.begin() as conn:
        conn.exec_driver_sql("INSERT INTO t VALUES (0)")
    second = engine()
    assert count(second) == 1  # opening it must not drop the locks `first`'s connection holds

    def other_process(n: int, close: bool) -> None:
        code = (
            f"import os, sqlite3\nc = sqlite3.connect({path!r})\n"
            f"c.execute('INSERT INTO t VALUES ({n})')\nc.commit()\n"
            + ("c.close()\n" if close else "os._exit(0)\n")
        )
        subprocess.run([sys.executable, "-c", code], check=True, timeout=60)

    other_process(1, close=True)
    assert os.path.exists(path + "-wal"), "another process deleted the WAL this process has open"
    other_process(2, close=False)
    assert count(engine()) == 3
    first.dispose()
    second.dispose()
