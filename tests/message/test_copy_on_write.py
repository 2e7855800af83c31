"""Copy on write: views (row slices, column selections, ``Message(m)``) behave exactly like copies.

The differential test runs one random program of views, reads, writes and drops twice — once with every
row slice a view (``VIEW_ROWS = 1``), once with every slice a copy (the reference meaning) — and compares every
live Message after every step.
"""

from __future__ import annotations

import gc

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fireworks import Message
from fireworks import message as message_module

ROWS = 12


@pytest.fixture(autouse=True)
def _every_slice_a_view(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(message_module, "VIEW_ROWS", 1)


def _columns() -> dict:
    rng = np.random.default_rng(0)
    return {
        "t": torch.arange(ROWS * 2, dtype=torch.float32).reshape(ROWS, 2),
        "i": np.arange(ROWS, dtype=np.int64) * 10,
        "s": pd.array([f"s{k}" for k in range(ROWS)], dtype="string"),
        "n": pd.Series(rng.integers(0, 5, ROWS), dtype="Int64"),
        "o": np.array([f"o{k}" for k in range(ROWS)], dtype=object),
    }


def _base(columns: dict | None = None) -> Message:
    if columns is None:
        return Message(_columns())
    return Message(columns, copy=False)  # handed over: the caller's objects are the columns


def _values(rows: int, salt: int) -> dict:
    return {
        "t": torch.full((rows, 2), float(-salt)),
        "i": np.full(rows, -salt, dtype=np.int64),
        "s": pd.array([f"w{salt}"] * rows, dtype="string"),
        "n": pd.array([salt] * rows, dtype="Int64"),
        "o": np.array([f"v{salt}"] * rows, dtype=object),
    }


# one step: (operation, handle, a, b, salt); handles index the pool modulo its size
step = st.tuples(
    st.sampled_from(
        ["slice", "columns", "copy", "write", "write_other", "widen", "set_col", "del_rows", "drop"]
    ),
    st.integers(0, 50),
    st.integers(0, ROWS),
    st.integers(0, ROWS),
    st.integers(1, 99),
)


def _run(program: list[tuple], view_rows: int, columns: dict | None = None) -> list[list[dict]]:
    """Run ``program`` with row slices of ``view_rows`` rows or more as views, on a Message built from
    ``columns`` without a copy (default: a Message of its own); the pool after each step."""
    old = message_module.VIEW_ROWS
    message_module.VIEW_ROWS = view_rows
    try:
        pool: list[Message | None] = [_base(columns)]
        seen = []
        for op, h, a, b, salt in program:
            live = [k for k, m in enumerate(pool) if m is not None]
            m = pool[live[h % len(live)]]
            assert m is not None
            a, b = min(a, b, len(m)), min(max(a, b), len(m))
            if op == "slice":
                pool.append(m[a:b])
            elif op == "columns" and m.columns:
                pool.append(m[m.columns[a % len(m.columns) :]])
            elif op == "copy":
                pool.append(Message(m))
            elif op == "write" and b > a:
                m[a:b] = Message({k: v for k, v in _values(b - a, salt).items() if k in m})
            elif op == "write_other" and b > a:
                # rows written from another live Message (possibly a view of this one)
                other = pool[live[(h + salt) % len(live)]]
                assert other is not None
                if len(other) >= b - a and set(other.columns) >= set(m.columns):
                    m[a:b] = other[0 : b - a][m.columns]
            elif op == "widen" and b > a and "i" in m.columns:
                m[a:b] = Message({"i": np.full(b - a, salt + 0.5)})  # int column becomes float
            elif op == "set_col":
                m["t"] = torch.full((len(m), 2), float(salt)) if m.columns else torch.zeros(0, 2)
            elif op == "del_rows" and b > a:
                del m[a:b]
            elif op == "drop" and len(live) > 1:
                pool[live[h % len(live)]] = None
                gc.collect()
            seen.append([_snapshot(x) for x in pool])
        return seen
    finally:
        message_module.VIEW_ROWS = old


def _snapshot(m: Message | None) -> dict | None:
    if m is None:
        return None
    return {c: (m[c].tolist(), str(m.dtypes[c])) for c in m.columns}


@settings(max_examples=100, deadline=None)
@given(st.lists(step, min_size=1, max_size=25))
def test_views_behave_exactly_like_copies(program: list[tuple]) -> None:
    assert _run(program, view_rows=1) == _run(program, view_rows=10**9)


@settings(max_examples=60, deadline=None)
@given(st.lists(step, min_size=1, max_size=25))
def test_a_message_built_without_a_copy_never_writes_to_the_callers_objects(program: list) -> None:
    handed = _columns()
    kept = {k: v.clone() if isinstance(v, torch.Tensor) else v.copy() for k, v in handed.items()}
    assert _run(program, view_rows=1, columns=handed) == _run(program, view_rows=10**9)
    for k, v in handed.items():
        assert _plain(v) == _plain(kept[k]), k


def _plain(column: object) -> list:
    return column.tolist() if isinstance(column, torch.Tensor) else pd.Series(column).tolist()


def test_a_write_to_the_base_never_shows_in_a_slice_and_back() -> None:
    base = _base()
    view = base[2:10]
    assert view._shared  # a view, not a copy
    before = view["t"].clone()
    base[0:12] = Message(_values(12, 7))
    assert torch.equal(view["t"], before)
    view[0:3] = Message(_values(3, 9))
    assert base["i"].tolist() == [-7] * 12
    assert view["i"].tolist()[:3] == [-9] * 3


def test_a_write_copies_only_while_a_view_is_alive() -> None:
    base = _base()
    view = base[0:12]
    storage = base._data["t"].data_ptr()
    del view
    gc.collect()
    base[0:1] = Message(_values(1, 3))
    assert base._data["t"].data_ptr() == storage  # nobody shared it any more: written in place
    assert not base._views


def test_a_view_of_a_view_is_protected_from_the_owner() -> None:
    base = _base()
    inner = base[1:11][2:8][["t", "i"]]
    base[0:12] = Message(_values(12, 5))
    assert inner["i"].tolist() == [30, 40, 50, 60, 70, 80]


def test_slices_keep_their_own_columns_after_the_owner_is_gone() -> None:
    view = _base()[3:6]
    gc.collect()
    view[0:1] = Message(_values(1, 2))
    assert view["i"].tolist() == [-2, 40, 50]


@pytest.mark.parametrize("rows", [0, 1, 7])
def test_join_equals_concat(rows: int) -> None:
    parts = [_base()[a : a + rows] for a in range(0, ROWS - rows + 1, max(rows, 1))]
    total = sum(len(p) for p in parts)
    assert Message._join(iter(parts), total) == Message.concat(parts)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 4), st.sampled_from(["f32", "f64", "i64", "str", "none"])),
        max_size=8,
    ),
    st.integers(-3, 3),
)
def test_join_falls_back_to_concat_where_parts_differ(specs: list, slack: int) -> None:
    """Parts whose kinds, dtypes or columns change midway, or more or fewer rows than announced, give what
    ``Message.concat`` gives (or its error)."""
    parts = []
    for rows, kind in specs:
        if kind == "none":
            parts.append(Message())
            continue
        col = {
            "f32": torch.ones(rows, 3),
            "f64": torch.ones(rows, 3, dtype=torch.float64),
            "i64": np.arange(rows),
            "str": pd.array(["a"] * rows, dtype="string"),
        }[kind]
        parts.append(Message({"x": col, "y": np.arange(rows)}))
    total = max(0, sum(len(p) for p in parts) + slack)
    try:
        expected = Message.concat(parts)
    except (ValueError, TypeError) as err:
        with pytest.raises(type(err)):
            Message._join(iter(parts), total)
        return
    got = Message._join(iter(parts), total)
    assert got == expected
    assert got.dtypes == expected.dtypes


def test_large_columns_are_joined_into_memory_numpy_allocated() -> None:
    parts = [Message({"x": torch.full((300_000, 2), float(k))}) for k in range(3)]  # 4.8 MB in all
    joined = Message.concat(parts)
    assert joined["x"].shape == (900_000, 2) and joined["x"].dtype == torch.float32
    assert torch.equal(joined["x"][::300_000, 0], torch.tensor([0.0, 1.0, 2.0]))


@pytest.mark.parametrize("dtype", ["string[pyarrow]", "str", "int64[pyarrow]"])
def test_joined_arrow_columns_are_one_chunk(dtype: str) -> None:
    """Joining Arrow-backed parts gives one chunk (pyarrow's take over many chunks joins them on every call)."""
    values = [None if k % 5 == 0 else (k if "int" in dtype else f"v{k}") for k in range(40)]
    m = Message({"c": pd.array(values, dtype=dtype)})
    joined = Message.concat([m[0:7], m[7:30], m[30:40]])
    assert joined == m and joined.dtypes == m.dtypes
    assert joined._data["c"].__arrow_array__().num_chunks == 1


def test_default_to_tensors_skips_exactly_the_columns_that_cannot_convert() -> None:
    """The default ``to_tensors`` skips string-like columns without trying: the same result as trying each."""
    import pyarrow as pa

    cols = {
        "f": np.arange(4, dtype=np.float32),
        "b": np.array([True, False, True, True]),
        "o_num": np.array([1, 2, 3, 4], dtype=object),
        "o_str": np.array(["a", "b", "c", "d"], dtype=object),
        "u": np.array(["a", "b", "c", "d"]),
        "dt": np.arange(4).astype("datetime64[s]"),
        "s": pd.array(["a", None, "c", "d"], dtype="string"),
        "str": pd.array(["a", "b", "c", "d"], dtype="str"),
        "i_na": pd.array([1, None, 3, 4], dtype="Int64"),
        "i_ext": pd.array([1, 2, 3, 4], dtype="Int64"),
        "arrow_i": pd.array([1, 2, 3, 4], dtype=pd.ArrowDtype(pa.int64())),
        "arrow_s": pd.array(["a", "b", "c", "d"], dtype=pd.ArrowDtype(pa.string())),
        "cat_num": pd.Categorical([1, 2, 1, 2]),
        "cat_str": pd.Categorical(["x", "y", "x", "y"]),
        "bool_ext": pd.array([True, False, True, False], dtype="boolean"),
    }
    m = Message(cols)
    expected = {}
    for name in cols:  # the reference: try every column, keep the ones that convert
        try:
            expected[name] = isinstance(m.to_tensors([name])[name], torch.Tensor)
        except (TypeError, ValueError):
            expected[name] = False
    got = m.to_tensors()
    assert {k: k in got.tensor_columns for k in cols} == expected
