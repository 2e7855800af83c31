"""One contract suite for the database Sources, run against real SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import multiprocessing
import sqlite3
import subprocess
import sys
import threading
import uuid

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
import torch

from fireworks import DBSource, LoopingSource, Message, TableSource
from fireworks.database import DatabaseError, SchemaError, get_engine


def every_type(n: int = 3) -> Message:
    rng = np.random.default_rng(0)
    return Message(
        {
            "i": np.arange(n, dtype=np.int64) - 1,
            "i32": np.arange(n, dtype=np.int32),
            "f": rng.normal(size=n),
            "f32": rng.normal(size=n).astype(np.float32),
            "b": np.arange(n) % 2 == 0,
            "s": [f"row {k} 'quoted' ünicode" for k in range(n)],
            "ts": pd.date_range("2024-01-01 00:00:00.123456", periods=n, freq="37min"),
            "tz": pd.date_range("2024-03-31", periods=n, freq="h", tz="Europe/Paris"),
            "ni": pd.array([None if k == 1 else k for k in range(n)], dtype="Int64"),
            "fnan": [None if k == 0 else 0.5 * k for k in range(n)],
            "snull": [None if k == 2 else "x" for k in range(n)],
            "blob": [bytes([k, 0, 255]) for k in range(n)],
            "emb": torch.randn(n, 2, 3),
            "label": torch.arange(n, dtype=torch.int64),
            "mask": torch.rand(n, 4) > 0.5,
            "half": torch.randn(n, 2).half(),
            "bf": torch.randn(n, 3).to(torch.bfloat16),
            "bf1": torch.randn(n).to(torch.bfloat16),  # one number per row: a plain column
            "h1": torch.randn(n).half(),
            "u8": torch.randint(0, 255, (n, 5), dtype=torch.uint8),
            "cplx": torch.randn(n, 2, dtype=torch.complex64),
        }
    )


def test_round_trip_of_every_supported_type(db):
    url, engine, name = db
    m = every_type(5)
    with TableSource(name, url) as t:
        t.insert(m)
    out = DBSource(name, engine, batch_size=2).all()
    assert out.columns == ["id", *m.columns]
    assert out["id"].tolist() == [1, 2, 3, 4, 5]
    del out["id"]
    assert out == m
    for c in m.tensor_columns:
        assert out[c].dtype == m[c].dtype and out[c].shape == m[c].shape, c
    assert str(out["tz"].dt.tz) == "Europe/Paris"
    assert out["ni"].isna().tolist() == [False, True, False, False, False]


def test_iteration_batches_len_and_empty_results(db):
    url, _engine, name = db
    t = TableSource(name, url)
    t.insert(Message({"x": np.arange(10), "emb": torch.ones(10, 3)}))
    t.commit()
    src = DBSource(name, url, batch_size=4)
    assert len(src) == 10
    batches = list(src)
    assert [len(b) for b in batches] == [4, 4, 2]
    assert Message.concat(batches)["x"].tolist() == list(range(10))
    empty = src.filter("x", ">", 100)
    assert len(empty) == 0 and list(empty) == []
    got = empty.all()
    assert len(got) == 0 and got.columns == ["id", "x", "emb"] and got["emb"].shape == (0, 3)


def test_table_from_columns_with_a_key_upsert_update_delete(db):
    _url, engine, name = db
    t = TableSource(
        name, engine, columns={"name": sa.Column(sa.String(64), primary_key=True), "age": int}
    )
    t.insert(Message({"name": ["ada", "alan", "grace"], "age": [36, 41, 85]}))
    t.upsert(Message({"name": ["ada", "edsger"], "age": [37, 72]}), key="name")
    t.update("name", Message({"name": ["grace"], "age": [86]}))
    assert t.delete("name", ["alan", "nobody"]) == 1
    t.commit()
    out = t.query().all()
    assert "id" not in out.columns
    assert dict(zip(out["name"], out["age"])) == {"ada": 37, "edsger": 72, "grace": 86}


def test_upsert_needs_a_unique_key_and_unique_rows(db):
    url, _engine, name = db
    t = TableSource(name, url)
    t.insert(Message({"k": [1, 2], "v": [0.0, 1.0]}))
    with pytest.raises(ValueError, match=r"upsert key \['k'\] is not unique in table"):
        t.upsert(Message({"k": [1], "v": [5.0]}), key="k")
    t.rollback()
    u = TableSource(f"{name}_u", url, columns={"k": sa.Column(sa.Integer, primary_key=True)})
    with pytest.raises(
        ValueError, match=r"must be unique within the Message, but row 2 repeats \[1\]"
    ):
        u.upsert(Message({"k": [1, 2, 1], "v": [0.0, 1.0, 2.0]}), key="k")
    with pytest.raises(KeyError, match="upsert key"):
        u.upsert(Message({"v": [0.0]}), key="k")
    u.rollback()


def test_a_failed_batch_is_rolled_back_whole_and_names_the_offending_row(db):
    url, _engine, name = db
    t = TableSource(name, url, columns={"k": sa.Column(sa.Integer, primary_key=True), "v": float})
    t.insert(Message({"k": [100], "v": [1.0]}))  # pending, must survive the failure below
    bad = Message({"k": [1, 2, 3, 2, 5], "v": [0.1, 0.2, 0.3, 0.4, 0.5]})
    with pytest.raises(
        DatabaseError, match=r"failed at row 3 of 5 \{'k': 2, 'v': 0.4\}.*rolled back"
    ):
        t.insert(bad)
    t.insert(Message({"k": [7], "v": [7.0]}))  # still usable
    t.commit()
    assert sorted(DBSource(name, url).all()["k"].tolist()) == [7, 100]


def test_rollback_discards_pending_writes_and_context_manager_rolls_back_on_error(db):
    url, _engine, name = db
    t = TableSource(name, url)
    t.insert(Message({"x": [1]}))
    t.commit()
    t.insert(Message({"x": [2]}))
    t.update("id", Message({"id": [1], "x": [10]}))  # through a temporary table on the servers
    assert t.delete("x", [1]) == 0  # the update is visible inside the transaction
    t.rollback()
    with pytest.raises(RuntimeError), TableSource(name, url) as t2:
        t2.insert(Message({"x": [3]}))
        raise RuntimeError("boom")
    assert DBSource(name, url).all()["x"].tolist() == [1]


NASTY = [
    "it's",
    'say "hi"',
    "x'); DROP TABLE users; --",
    "50%_off",
    "back\\slash",
    "; DROP TABLE t",
]


def test_filter_ops_bind_values_that_would_break_formatting(db):
    url, _engine, name = db
    t = TableSource(name, url)
    t.insert(Message({"s": NASTY, "n": np.arange(len(NASTY)), "f": np.linspace(0, 1, len(NASTY))}))
    t.commit()
    src = DBSource(name, url)

    def rows(*args):
        return src.filter(*args).all()["s"].tolist()

    for value in NASTY:
        assert rows("s", "==", value) == [value]
    assert rows("s", "!=", NASTY[0]) == NASTY[1:]
    assert rows("n", "<", 2) == NASTY[:2]
    assert rows("n", "<=", 2) == NASTY[:3]
    assert rows("n", ">", np.int64(3)) == NASTY[4:]
    assert rows("n", ">=", torch.tensor(4)) == NASTY[4:]
    assert rows("s", "in", [NASTY[2], NASTY[5], "absent"]) == [NASTY[2], NASTY[5]]
    assert rows("n", "in", 0, 1) == NASTY[:2]
    assert rows("n", "between", 1, 3) == NASTY[1:4]
    assert rows("s", "like", "%DROP%") == [NASTY[2], NASTY[5]]
    assert rows("s", "in", []) == []
    chained = src.filter("n", ">", 0).filter("s", "like", "%DROP%")
    assert len(chained) == 2
    assert len(DBSource(name, url)) == len(NASTY)  # the table is still there
    with pytest.raises(ValueError, match=r"unknown filter op '=~'; use one of =="):
        src.filter("s", "=~", "x")
    with pytest.raises(KeyError, match=r"unknown column 'nope'; the query has columns \['id', 's'"):
        src.filter("nope", "==", 1)
    with pytest.raises(ValueError, match="'between' takes two bounds"):
        src.filter("n", "between", 1)
    with pytest.raises(ValueError, match="'==' takes one value, but got 2"):
        src.filter("n", "==", 1, 2)


def test_filter_takes_a_predicate_as_on_every_source(db):
    url, _engine, name = db
    t = TableSource(name, url)
    t.insert(Message({"x": np.arange(6)}))
    t.commit()
    src = DBSource(name, url, batch_size=4)
    kept = src.filter(lambda m: m["x"] % 2 == 0)
    assert Message.concat(list(kept))["x"].tolist() == [0, 2, 4]
    assert src.filter("x", ">", 3).all()["x"].tolist() == [4, 5]
    with pytest.raises(
        TypeError, match=r"filter takes a column name, an op and values .* or one predicate"
    ):
        src.filter("x")


def test_identifiers_that_need_quoting(db):
    url, _engine, name = db
    table = f"{name} Select"
    m = Message(
        {"Select": [1, 2], "my col": ["a", "b"], "Group": [0.5, 1.5], "100%": [True, False]}
    )
    t = TableSource(table, url)
    t.insert(m)
    t.update("Select", Message({"Select": [2], "my col": ["B"]}))
    t.commit()
    src = DBSource(table, url)
    out = src.filter("my col", "==", "B").all()
    assert out["Select"].tolist() == [2] and out["100%"].tolist() == [False]
    assert t.delete("Group", [0.5]) == 1
    t.commit()
    assert len(src) == 1


def test_select_and_text_queries(db):
    url, engine, name = db
    t = TableSource(name, url)
    t.insert(Message({"x": np.arange(6), "s": list("abcdef"), "emb": torch.randn(6, 2)}))
    t.commit()
    table = t.table
    assert table is not None
    sel = DBSource(sa.select(table.c.x, table.c.emb).where(table.c.x >= 2).order_by(table.c.x), url)
    out = sel.all()
    assert out["x"].tolist() == [2, 3, 4, 5] and out["emb"].shape == (4, 2)
    q = engine.dialect.identifier_preparer.quote(name)
    txt = DBSource(
        sa.text(f"SELECT x, s FROM {q} WHERE x < :lim ORDER BY x").bindparams(lim=4), url
    )
    assert len(txt) == 4
    assert txt.filter("s", "in", ["b", "c", "z"]).all()["x"].tolist() == [1, 2]
    assert t.query(["s"]).all().columns == ["s"]


def test_random_access_by_key_and_by_composition(db):
    url, _engine, name = db
    t = TableSource(name, url)
    t.insert(Message({"x": np.arange(10) * 10}))
    t.commit()
    src = DBSource(name, url, batch_size=3)
    got = src.get([5, 1, 9])
    assert got["x"].tolist() == [40, 0, 80]
    assert src.get([30], column="x")["id"].tolist() == [4]
    with pytest.raises(KeyError, match=r"no rows with id in \[77\]"):
        src.get([1, 77])
    with pytest.raises(
        TypeError,
        match="is forward-only: it streams a query and has no positional random access; wrap it",
    ):
        src[0]
    looped = LoopingSource(src)
    assert len(looped) == 10 and looped[7]["x"].tolist() == [70]


def test_state_dict_resumes_iteration(db):
    url, _engine, name = db
    t = TableSource(name, url)
    t.insert(Message({"x": np.arange(10)}))
    t.commit()
    src = DBSource(name, url, batch_size=3)
    assert next(src)["x"].tolist() == [0, 1, 2]
    state = src.state_dict()
    again = DBSource(name, url, batch_size=3)
    again.load_state_dict(state)
    assert next(again)["x"].tolist() == [3, 4, 5]
    assert next(src)["x"].tolist() == [3, 4, 5]
    src.reset()
    assert next(src)["x"].tolist() == [0, 1, 2]


def test_values_that_cannot_be_stored_faithfully_are_refused(db):
    url, _engine, name = db
    t = TableSource(
        name, url, columns={"i": sa.SmallInteger, "f32": np.float32, "short": sa.String(5)}
    )
    with pytest.raises(SchemaError, match=r"column 'i' of table .* \(row 1 holds 40000, outside"):
        t.insert(Message({"i": np.array([1, 40_000])}))
    with pytest.raises(SchemaError, match=r"column 'i' .* the Message column is float"):
        t.insert(Message({"i": [1.5]}))
    with pytest.raises(SchemaError, match=r"row 0 holds 0.1, which float32 rounds"):
        t.insert(Message({"f32": [0.1]}))
    with pytest.raises(
        SchemaError, match=r"string of 6 characters at row 1, longer than the column's VARCHAR\(5\)"
    ):
        t.insert(Message({"short": ["ok", "toolong"[:6]]}))
    with pytest.raises(SchemaError, match=r"table .* has no such columns"):
        t.insert(Message({"other": [1]}))
    t.insert(
        Message(
            {"i": np.array([1, 2], dtype=np.int16), "f32": [0.5, 0.25], "short": ["abcde", None]}
        )
    )
    t.commit()
    u = TableSource(f"{name}_u", url)
    with pytest.raises(
        SchemaError, match=r"holds 18446744073709551615 at row 0, above the largest"
    ):
        u.insert(Message({"u": np.array([2**64 - 1], dtype=np.uint64)}))
    with pytest.raises(SchemaError, match="sub-microsecond precision at row 0"):
        u.insert(Message({"ts": pd.to_datetime(["2024-01-01 00:00:00.000000001"])}))
    with pytest.raises(SchemaError, match=r"column 'o' holds 'mixed-integer' values"):
        u.insert(Message({"o": [{"a": 1}, 2]}))
    u.insert(Message({"emb": torch.zeros(2, 3)}))
    with pytest.raises(SchemaError, match=r"float32 tensor with rows of shape \[3\].*shape \[4\]"):
        u.insert(Message({"emb": torch.zeros(2, 4)}))
    u.rollback()  # SQLite has one writer at a time: the next TableSource creates a table
    with pytest.raises(
        SchemaError, match=r"holds naive datetimes, but the Message column is tz-aware"
    ):
        TableSource(f"{name}_v", url, columns={"ts": sa.DateTime}).insert(
            Message({"ts": pd.to_datetime(["2024-01-01"]).tz_localize("UTC")})
        )


STREAM_CHILD = """
import sys
from fireworks import DBSource

def status(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field))

url, name, small, large = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
for rows in (small, small, large):  # the first pass warms up (imports, connection, caches)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak-RSS counter (VmHWM) to the current RSS
    base = status("VmRSS:")
    seen = sum(len(b) for b in DBSource(name, url, batch_size=1000).filter("x", "<", rows))
    assert seen == rows, seen
    print(status("VmHWM:") - base)
"""


def test_streaming_memory_does_not_grow_with_the_result(db):
    # Measured as the process's peak RSS, not with tracemalloc: a driver that buffers the whole result
    # client-side does it in C memory (libpq, libmariadb) that tracemalloc never sees.
    url, _engine, name = db
    n = 200_000
    # this test is about reading: write the rows through the fast driver of the same database
    with TableSource(name, url.replace("+pg8000://", "+psycopg://")) as t:
        t.insert(Message({"x": np.arange(n), "f": np.ones(n), "s": ["some text"] * n}))
    out = subprocess.run(
        [sys.executable, "-c", STREAM_CHILD, url, name, str(n // 10), str(n)],
        check=True,
        capture_output=True,
        text=True,
    )
    _, small_kib, large_kib = map(int, out.stdout.split())
    # 200,000 buffered rows take tens of MiB; streamed, the peak is a few batches whatever the result size
    assert large_kib < small_kib + 8 * 1024, (small_kib, large_kib)


def test_pass_through_writes_what_flows_by_in_batches(db):
    url, _engine, name = db
    data = Message({"x": np.arange(10), "emb": torch.randn(10, 2)})
    sink = TableSource(name, url, inputs=data)
    seen = list(sink)
    assert Message.concat(seen) == data
    out = DBSource(name, url).all()
    del out["id"]
    assert out == data
    # a forward-only input: a database query feeding another table, one committed batch at a time
    upstream = TableSource(name, url).query(["x", "emb"], batch_size=4)
    copy = TableSource(f"{name}_copy", url, inputs=upstream)
    assert [len(b) for b in copy] == [4, 4, 2]
    assert DBSource(f"{name}_copy", url).all()["x"].tolist() == list(range(10))


def _child_writes(url: str, name: str) -> None:
    t = TableSource(name, url)
    t.insert(Message({"x": [42]}))
    t.commit()


def test_fork_safety_child_process_uses_its_own_connections(db):
    url, _engine, name = db
    t = TableSource(name, url)
    t.insert(Message({"x": [1]}))
    t.commit()
    assert len(DBSource(name, url)) == 1  # the parent's pool now holds a connection
    ctx = multiprocessing.get_context("fork")
    child = ctx.Process(target=_child_writes, args=(url, name))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    t.insert(Message({"x": [2]}))  # the parent's pooled connections survived the child
    t.commit()
    assert sorted(DBSource(name, url).all()["x"].tolist()) == [1, 2, 42]


def test_engines_from_urls_and_engines(db, tmp_path):
    url, engine, name = db
    assert get_engine(url) is engine
    assert get_engine(engine) is engine
    with pytest.raises(TypeError, match="engine must be a SQLAlchemy Engine or a database URL"):
        TableSource(name, 42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        DBSource(name, url, batch_size=0)
    with pytest.raises(KeyError, match=f"no table named '{name}_missing'"):
        len(DBSource(f"{name}_missing", url))
    with pytest.raises(ValueError, match="nothing to create it from"):
        TableSource(f"{name}_x", url).query()


def test_sqlite_uses_wal_and_a_busy_timeout(tmp_path):
    engine = get_engine(f"sqlite:///{tmp_path / 'w.sqlite'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
    engine.dispose()


def test_sqlite_connect_waits_for_another_process_lock_instead_of_failing(tmp_path):
    # a file still in rollback-journal mode, exclusively locked by another connection for a moment:
    # switching it to WAL on connect must wait for the lock (it used to fail at once, "database is locked")
    path = tmp_path / "busy.sqlite"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("CREATE TABLE t (x INTEGER)")
    other.execute("BEGIN EXCLUSIVE")
    other.execute("INSERT INTO t VALUES (1)")
    release = threading.Timer(0.5, lambda: other.execute("COMMIT"))
    release.start()
    engine = get_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("SELECT x FROM t").scalar() == 1
    finally:
        release.join()
        other.close()
        engine.dispose()


def test_unique_names_do_not_collide(db):
    assert uuid.UUID(int=0)  # table_name fixture isolation relies on unique names per test


def test_in_memory_sqlite_keeps_pending_writes_across_internal_reads():
    engine = sa.create_engine("sqlite://")
    t = TableSource("people", engine, columns={"name": sa.Column(sa.String(64), primary_key=True)})
    t.insert(Message({"name": ["ada", "alan"], "age": [36, 41]}))
    t.upsert(Message({"name": ["ada"], "age": [37]}), key="name")  # reflects keys mid-transaction
    t.commit()
    assert t.query().all()["age"].tolist() == [37, 41]


def test_a_table_source_pickles_without_its_connection(db):
    import pickle

    url, _engine, name = db
    t = TableSource(name, url)
    t.insert(Message({"x": [1]}))
    clone = pickle.loads(pickle.dumps(t))
    t.commit()
    clone.insert(Message({"x": [2]}))
    clone.commit()
    assert sorted(DBSource(name, url).all()["x"].tolist()) == [1, 2]


def test_datetime_filters_and_upserts_with_tensor_columns(db):
    url, _engine, name = db
    key = {"k": sa.Column(sa.String(32), primary_key=True)}
    t = TableSource(name, url, columns=key)
    ts = pd.date_range("2024-01-01", periods=4, freq="D")
    t.insert(
        Message(
            {"k": list("abcd"), "ts": ts, "tz": ts.tz_localize("Asia/Tokyo"), "v": torch.eye(4)}
        )
    )
    t.upsert(
        Message(
            {
                "k": ["b", "e"],
                "ts": ts[:2],
                "tz": ts[:2].tz_localize("Asia/Tokyo"),
                "v": torch.full((2, 4), 7.0),
            }
        ),
        key="k",
    )
    t.commit()
    src = DBSource(name, url)
    assert src.filter("ts", ">=", ts[2]).all()["k"].tolist() == ["c", "d"]
    tokyo = pd.Timestamp("2024-01-03", tz="Asia/Tokyo")
    assert src.filter("tz", "<", tokyo).all()["k"].tolist() == ["a", "b", "e"]
    out = src.get(["b", "e", "a"])
    assert torch.equal(
        out["v"], torch.stack([torch.full((4,), 7.0), torch.full((4,), 7.0), torch.eye(4)[0]])
    )
    assert out["ts"].tolist() == [ts[0], ts[1], ts[0]]
