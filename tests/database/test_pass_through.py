"""A pass-through TableSource writes each item that flows through exactly once, on every consumption path,
and reading a table never writes; run against real SQLite, PostgreSQL and MariaDB (the ``db`` fixture)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from fireworks import BatchingSource, DBSource, Message, TableSource

N = 10


def data(n: int = N) -> Message:
    return Message({"x": np.arange(n), "emb": torch.arange(2 * n, dtype=torch.float32).view(n, 2)})


def written(url: str, name: str) -> list[int]:
    """The x values in the table, sorted (duplicates kept)."""
    return sorted(DBSource(name, url).all()["x"].tolist())


def forward_only(url: str, name: str, n: int = N, batch_size: int = 3) -> DBSource:
    """A forward-only input: the rows of another table, streamed in batches."""
    with TableSource(f"{name}_src", url) as src:
        src.insert(data(n))
    return src.query(["x", "emb"], batch_size=batch_size)


def test_indexing_the_same_item_twice_writes_it_once(db):
    url, _engine, name = db
    sink = TableSource(name, url, inputs=data())
    assert sink[0]["x"].tolist() == [0]
    assert sink[0]["x"].tolist() == [0]
    assert sink[-1]["x"].tolist() == [N - 1]
    assert written(url, name) == [0, N - 1]


def test_slices_and_arrays_write_each_position_once(db):
    url, _engine, name = db
    sink = TableSource(name, url, inputs=data())
    assert sink[[2, 2, 1]]["x"].tolist() == [2, 2, 1]
    assert sink[0:5]["x"].tolist() == [0, 1, 2, 3, 4]
    assert sink[3:8]["x"].tolist() == [3, 4, 5, 6, 7]
    assert sink[torch.tensor([9, 0])]["x"].tolist() == [9, 0]
    out = DBSource(name, url).all()
    assert sorted(out["x"].tolist()) == [0, 1, 2, 3, 4, 5, 6, 7, 9]
    assert torch.equal(
        out[np.argsort(out["x"].to_numpy())]["emb"], data()[[0, 1, 2, 3, 4, 5, 6, 7, 9]]["emb"]
    )


def test_every_epoch_and_every_path_write_each_row_once(db):
    url, _engine, name = db
    sink = TableSource(name, url, inputs=data())
    assert Message.concat(list(sink)) == data()
    assert Message.concat(list(sink)) == data()  # a second epoch
    sink.reset()
    drained = []
    while True:
        try:
            drained.append(next(sink))
        except StopIteration:
            break
    assert Message.concat(drained) == data()
    assert sink.reset() is sink
    assert written(url, name) == list(range(N))


def test_a_batched_input_writes_every_row_of_every_batch_once(db):
    url, _engine, name = db
    sink = TableSource(name, url, inputs=BatchingSource(data(), 4))
    assert len(sink) == 3
    assert [len(b) for b in sink] == [4, 4, 2]
    assert written(url, name) == list(range(N))
    assert len(sink[1]) == 4 and [len(b) for b in sink] == [4, 4, 2]
    assert written(url, name) == list(range(N))
    other = TableSource(f"{name}_b", url, inputs=BatchingSource(data(), 4))
    assert other[2]["x"].tolist() == [8, 9]  # by index first, then the rest by iteration
    assert [len(b) for b in other] == [4, 4, 2]
    assert written(url, f"{name}_b") == list(range(N))


def test_a_forward_only_input_is_written_once_per_position(db):
    url, _engine, name = db
    sink = TableSource(name, url, inputs=forward_only(url, name))
    assert not sink.has_random_access()
    assert [len(b) for b in sink] == [3, 3, 3, 1]
    assert [len(b) for b in sink] == [3, 3, 3, 1]
    sink.reset()
    drained = []
    while True:
        try:
            drained.append(next(sink))
        except StopIteration:
            break
    assert [len(b) for b in drained] == [3, 3, 3, 1]
    state = sink.state_dict()
    sink.reset()
    next(sink)
    sink.load_state_dict(state)
    assert written(url, name) == list(range(N))


def test_prefetch_and_cache_after_the_writer_write_each_row_once(db):
    url, _engine, name = db
    prefetched = TableSource(name, url, inputs=data()).prefetch(2)
    assert Message.concat(list(prefetched)) == data()
    assert Message.concat(list(prefetched)) == data()
    assert written(url, name) == list(range(N))
    cached = TableSource(f"{name}_c", url, inputs=data()).cache()
    assert Message.concat(list(cached)) == data()
    assert cached[3]["x"].tolist() == [3]
    assert Message.concat(list(cached)) == data()
    assert written(url, f"{name}_c") == list(range(N))
    streamed = TableSource(f"{name}_f", url, inputs=forward_only(url, f"{name}_f")).prefetch(2)
    assert sum(len(b) for b in streamed) == N
    assert sum(len(b) for b in streamed) == N
    assert written(url, f"{name}_f") == list(range(N))


def test_resuming_from_a_state_dict_writes_nothing_twice(db):
    url, _engine, name = db
    sink = TableSource(name, url, inputs=data())
    for _ in range(3):
        next(sink)
    state = sink.state_dict()
    rest = [next(sink)["x"].item() for _ in range(N - 3)]
    assert rest == list(range(3, N))
    sink.load_state_dict(state)  # back to position 3 in the same process: rows 3.. are in the table
    assert [next(sink)["x"].item() for _ in range(N - 3)] == rest
    assert written(url, name) == list(range(N))
    # a new process resumes a checkpoint taken after the last write: the rest is written, once
    first = TableSource(f"{name}_r", url, inputs=data())
    for _ in range(4):
        next(first)
    resumed = TableSource(f"{name}_r", url, inputs=data())
    resumed.load_state_dict(first.state_dict())
    rows = []
    while True:
        try:
            rows.append(next(resumed)["x"].item())
        except StopIteration:
            break
    assert rows == list(range(4, N))
    assert written(url, f"{name}_r") == list(range(N))


def test_dataloaders_write_each_row_once(db):
    url, _engine, name = db
    mapped = TableSource(name, url, inputs=data())
    loader = DataLoader(mapped.as_dataset(), batch_size=4, shuffle=True)
    for _ in range(2):  # two epochs in this process
        assert sorted(torch.cat([b["x"] for b in loader]).tolist()) == list(range(N))
    assert written(url, name) == list(range(N))
    # every worker streams a forward-only input whole; each position is written by one worker
    streamed = TableSource(f"{name}_w", url, inputs=forward_only(url, f"{name}_w"))
    loader = DataLoader(streamed.as_iterable_dataset(), batch_size=None, num_workers=2)
    assert sorted(int(row["x"]) for row in loader) == list(range(N))
    assert written(url, f"{name}_w") == list(range(N))
    # a random-access batched input is sharded by index: each worker writes the batches it serves
    batched = TableSource(f"{name}_b", url, inputs=BatchingSource(data(), 3))
    loader = DataLoader(batched.as_iterable_dataset(), batch_size=None, num_workers=2)
    assert sorted(torch.cat([torch.as_tensor(b["x"]) for b in loader]).tolist()) == list(range(N))
    assert written(url, f"{name}_b") == list(range(N))


def test_a_failed_write_writes_nothing_and_names_the_column(db):
    url, _engine, name = db
    good = TableSource(name, url, inputs=data())
    good[0]
    bad = TableSource(name, url, inputs=Message({"x": ["not a number"] * 2}))
    with pytest.raises(Exception, match="column 'x'"):
        bad[0]
    assert written(url, name) == [0]


def test_reading_a_table_never_writes(db):
    url, _engine, name = db
    with TableSource(name, url) as t:
        t.insert(data())
    reader = TableSource(name, url)
    assert len(reader) == N
    assert sum(len(m) for m in reader) == N
    assert sum(len(m) for m in reader) == N
    reader.reset()
    first = next(reader)  # the whole table, one query chunk
    state = reader.state_dict()
    with pytest.raises(StopIteration):
        next(reader)
    reader.load_state_dict(state)
    with pytest.raises(StopIteration):
        next(reader)
    assert reader.reset() is reader and next(reader) == first and len(first) == N
    with pytest.raises(TypeError, match="reads its table as a stream"):
        reader[0]
    assert written(url, name) == list(range(N))


def test_query_takes_one_column_name_and_filters_on_unselected_columns(db):
    url, _engine, name = db
    with TableSource(name, url) as t:
        t.insert(Message({"name": ["ada", "alan", "grace"], "age": [36, 41, 85]}))
    one = t.query("name")
    assert one.columns == ["name"]
    assert one.all()["name"].tolist() == ["ada", "alan", "grace"]
    older = t.query("name").filter("age", ">", 40)
    assert older.columns == ["name"]
    assert older.all()["name"].tolist() == ["alan", "grace"]
    assert len(older) == 2
    assert t.query(["name"]).filter("age", "between", 30, 50).filter("name", "like", "a%").all()[
        "name"
    ].tolist() == ["ada", "alan"]
    with pytest.raises(KeyError, match="unknown column 'height'"):
        t.query("name").filter("height", ">", 1)
    with pytest.raises(TypeError, match="columns must be column names"):
        t.query(["name", 3])  # type: ignore[list-item]


def test_a_pickled_writer_keeps_the_positions_it_wrote(db):
    import pickle

    url, _engine, name = db
    sink = TableSource(name, url, inputs=data())
    sink[0]
    clone = pickle.loads(pickle.dumps(sink))  # what a process executor or spawned worker gets
    clone[0]
    assert Message.concat(list(clone)) == data()
    assert written(url, name) == list(range(N))
