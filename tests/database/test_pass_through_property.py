"""Differential test: a pass-through TableSource consumed by a random mix of paths writes exactly the rows of
the positions it served, each once (the model: the set of positions served), over row and batched inputs.

A pass that stops early may have written ahead of what it served (it reads, and so writes, a block of items at
a time): after one, the table must still hold every served row once and no row twice."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from fireworks import BatchingSource, DBSource, Message, TableSource
from fireworks.database import get_engine

_DIR = Path(tempfile.mkdtemp(prefix="fw_pass_through_"))
URL = f"sqlite:///{_DIR / 'p.sqlite'}"

steps = st.lists(
    st.one_of(
        st.tuples(st.just("int"), st.integers(-50, 50)),
        st.tuples(st.just("slice"), st.integers(-12, 12), st.integers(-12, 12)),
        st.tuples(st.just("array"), st.lists(st.integers(0, 50), max_size=6)),
        st.tuples(st.just("next"), st.integers(1, 4)),
        st.tuples(st.just("reset")),
        st.tuples(st.just("iter")),
        st.tuples(st.just("partial"), st.integers(0, 5)),
        st.tuples(st.just("state")),
        st.tuples(st.just("load")),
    ),
    max_size=12,
)


@settings(max_examples=100)
@given(n=st.integers(1, 13), batch=st.sampled_from([None, 1, 3, 5]), steps=steps)
def test_written_rows_are_the_served_positions_each_once(n, batch, steps):
    name = f"p_{uuid.uuid4().hex[:10]}"
    data = Message({"x": np.arange(n)})
    inputs = data if batch is None else BatchingSource(data, batch)
    sink = TableSource(name, URL, inputs=inputs)
    items = len(sink)
    item_rows = [
        [k] if batch is None else list(range(k * batch, min(n, (k + 1) * batch)))
        for k in range(items)
    ]
    served: set[int] = set()
    ahead = False
    cursor = 0
    saved = None
    for step in steps:
        kind = step[0]
        if kind == "int":
            k = step[1] % items
            sink[k]
            served.add(k)
        elif kind == "slice":
            picked = list(range(items))[step[1] : step[2]]
            sink[step[1] : step[2]]
            served.update(picked)
        elif kind == "array":
            picked = [k % items for k in step[1]]
            sink[np.array(picked, dtype=np.int64)]
            served.update(picked)
        elif kind == "next":
            for _ in range(step[1]):
                if cursor >= items:
                    break
                next(sink)
                served.add(cursor)
                cursor += 1
        elif kind == "reset":
            sink.reset()
            cursor = 0
        elif kind == "iter":
            assert len(list(sink)) == items
            served.update(range(items))
        elif kind == "partial":
            for k, _item in zip(range(step[1]), sink):
                served.add(k)
                ahead = True
        elif kind == "state":
            saved = (sink.state_dict(), cursor)
        elif kind == "load" and saved is not None:
            sink.load_state_dict(saved[0])
            cursor = saved[1]
    expected = sorted(r for k in served for r in item_rows[k])
    got = sorted(DBSource(name, URL).all()["x"].tolist()) if served or ahead else []
    if ahead:
        assert len(set(got)) == len(got) and set(expected) <= set(got)
    else:
        assert got == expected
    with get_engine(URL).begin() as conn:
        conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{name}"')
