"""The shuffler's copy of its input for a pass, and the other speed-ups of a shuffled, batched epoch, each
against the plain path it replaces (random inputs, tiny internal sizes so that every boundary shows).

- ``ShufflerSource`` copying its input for a pass (``copy_input``) gives the rows that gathering through the
  input gives: ``s[k]`` outside any pass (the reference), every pass with the copy forced on, off and
  automatic, resumed passes, two passes at once;
- it never copies an input that does not own its meaning (a user ``__getitem__``), a cache the user sized,
  nor past the byte budget, and the copy is dropped with its pass;
- ``Message.stack`` equals ``torch.stack`` of the columns; ``from_arrow(copy=False)`` equals a copying
  ``from_arrow``; a window's no-copy conversion to tensors equals ``to_tensors``; batches cut from a window
  with one ``split`` call equal slices.
"""

from __future__ import annotations

import gc
import tempfile
import weakref
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fireworks import Message, Source
from fireworks.sources import FunctionSource, ParquetSource, SequenceSource, ShufflerSource, plan
from fireworks.sources.fastpaths import split_windows
from fireworks.testing import rows, small_sizes

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None
)


FILES = Path(tempfile.mkdtemp(prefix="fireworks-pass-copy-"))


def _root(kind: str, n: int, seed: int) -> Source:
    rng = np.random.default_rng(seed)
    data = {
        "x": np.arange(n),
        "f": rng.normal(size=n).astype(np.float32),
        "s": np.array([f"r{i}" for i in range(n)], dtype=object),
    }
    if kind == "message":
        return Source(Message(data))
    if kind == "parquet":  # kept in Arrow's buffers, uncopied
        path = FILES / f"{n}-{seed}.parquet"
        if not path.exists():
            pq.write_table(pa.table(data), path, row_group_size=max(1, n // 3))
        return ParquetSource(path)
    return SequenceSource([{k: v[i] for k, v in data.items()} for i in range(n)])


def _features(m: Message) -> Message:
    x = m.stack(["x", "f"], dtype=torch.float32)
    x.mul_(2)
    return Message({"x": x, "id": m["x"], "s": m["s"]})


def _pipeline(kind: str, n: int, seed: int, copy: bool | None, batch: int | None) -> Source:
    src: Source = ShufflerSource(_root(kind, n, seed).map(_features), seed=seed, copy_input=copy)
    return src.batch(batch).to_tensors() if batch else src


def _reference(kind: str, n: int, seed: int, batch: int | None) -> list[Message]:
    src = _pipeline(kind, n, seed, False, batch)
    return [src[k] for k in range(len(src))]  # by index, outside any pass: no copy


@SETTINGS
@given(
    kind=st.sampled_from(["message", "list", "parquet"]),
    n=st.integers(1, 40),
    seed=st.integers(0, 5),
    copy=st.sampled_from([None, True, False]),
    batch=st.sampled_from([None, 1, 3, 7]),
    copy_rows=st.integers(1, 9),
    window_rows=st.integers(1, 12),
)
def test_a_pass_through_the_copy_gives_the_reference_rows(
    kind, n, seed, copy, batch, copy_rows, window_rows
) -> None:
    with small_sizes(window_rows=window_rows, copy_rows=copy_rows):
        items = _reference(kind, n, seed, batch)
        want = rows(items)
        src = _pipeline(kind, n, seed, copy, batch)
        assert rows(list(src)) == want
        # a pass resumed part-way builds its own copy and goes on with the same order
        for k in (0, 1, len(items) // 2):
            it = iter(_pipeline(kind, n, seed, copy, batch))
            head = [next(it) for _ in range(min(k, len(items)))]
            rest = list(_pipeline(kind, n, seed, copy, batch).resume(it.state_dict()))
            assert rows(head + rest) == want


@SETTINGS
@given(n=st.integers(2, 30), seed=st.integers(0, 5))
def test_two_passes_at_once_each_have_their_own_copy_and_permutation(n, seed) -> None:
    with small_sizes():
        src = _pipeline("message", n, seed, True, 3)
        first, second = iter(src), iter(src)  # two epochs in flight
        a, b = [], []
        for x, y in zip(first, second):
            a.append(x)
            b.append(y)
        a += list(first)
        b += list(second)
        ids = [sorted(np.concatenate([m["id"].numpy() for m in p]).tolist()) for p in (a, b)]
        assert ids[0] == ids[1] == list(range(n))


def _counting_pipeline(calls: list[int], **kwargs: Any) -> Source:
    def fn(m: Message) -> Message:
        calls.append(len(m))
        return Message(m)

    return ShufflerSource(Source(Message({"x": np.arange(50)})).map(fn), seed=0, **kwargs)


def test_the_copy_is_read_once_per_pass_after_the_first_window() -> None:
    calls: list[int] = []
    with small_sizes(window_rows=10, copy_rows=20):
        src = _counting_pipeline(calls).batch(5)
        assert sorted(np.concatenate([b["x"] for b in src]).tolist()) == list(range(50))
    # the first window through the input, then the copy in calls of copy_rows rows
    assert calls == [10, 20, 20, 10]


def test_no_copy_past_the_byte_budget_or_when_told_not_to() -> None:
    for kwargs, budget in (({}, 8), ({"copy_input": False}, 1 << 30)):
        calls: list[int] = []
        with small_sizes(window_rows=10, copy_rows=20):
            plan.sizes.copy_bytes = budget
            list(_counting_pipeline(calls, **kwargs).batch(5))
        assert calls == [10] * 5, kwargs


def test_no_copy_of_a_message_in_memory_nor_of_a_cache() -> None:
    for src in (
        ShufflerSource(Source(Message({"x": np.arange(50)})), seed=0),
        ShufflerSource(Source(Message({"x": np.arange(50)})).map(Message).cache(), seed=0),
    ):
        with small_sizes(window_rows=10):
            passes: list[Any] = []
            it = iter(src.batch(5))
            list(it)
            passes.append(it)
        assert not any(isinstance(v, Message) for p in passes for v in p.epochs.scratch.values()), (
            type(src._input).__name__
        )


def test_an_input_that_overrides_its_meaning_is_never_copied() -> None:
    calls: list[Any] = []

    class Logged(FunctionSource):  # the user's __getitem__: no "blocks", so no copy
        def __getitem__(self, index: Any) -> Any:
            calls.append(index)
            return super().__getitem__(index)

    inp = Logged(Source(Message({"x": np.arange(30)})), lambda m: Message(m))
    src = ShufflerSource(inp, seed=1, copy_input=True)
    with small_sizes(window_rows=7):
        got = list(src.batch(7))
    assert sorted(np.concatenate([b["x"] for b in got]).tolist()) == list(range(30))
    assert len(calls) >= 30  # asked one int at a time, every row through the user's method
    assert all(isinstance(i, (int, np.integer)) for i in calls)


def test_the_copy_is_dropped_with_its_pass() -> None:
    with small_sizes(window_rows=10):
        src = _counting_pipeline([], copy_input=True).batch(5)
        it = iter(src)
        next(it), next(it), next(it)
        copies = [v for v in it.epochs.scratch.values() if isinstance(v, Message)]
        assert len(copies) == 1
        ref = weakref.ref(
            copies[0]._data["x"]
        )  # (a Message has no weak references; its column has)
        del copies, it
        gc.collect()
        assert ref() is None


# --- the smaller speed-ups ---------------------------------------------------------------------------


number_dtypes = st.sampled_from(
    [np.int8, np.int32, np.int64, np.uint8, np.float16, np.float32, np.float64, np.bool_]
)


@SETTINGS
@given(
    dtypes=st.lists(number_dtypes, min_size=1, max_size=5),
    n=st.integers(0, 20),
    as_tensor=st.lists(st.booleans(), min_size=5, max_size=5),
    target=st.sampled_from([None, torch.float32, torch.float64, torch.int64]),
)
def test_stack_equals_torch_stack_of_the_columns(dtypes, n, as_tensor, target) -> None:
    rng = np.random.default_rng(n)
    data: dict[str, Any] = {}
    for j, dtype in enumerate(dtypes):
        col = (rng.normal(size=n) * 10).astype(dtype)
        data[f"c{j}"] = torch.from_numpy(col) if as_tensor[j] else col
    m = Message(data)
    cols = [
        m[f"c{j}"] if as_tensor[j] else torch.from_numpy(np.array(m[f"c{j}"]))
        for j in range(len(dtypes))
    ]
    dtype = target
    if dtype is None:
        dtype = cols[0].dtype
        for c in cols[1:]:
            dtype = torch.promote_types(dtype, c.dtype)
    want = torch.stack([c.to(dtype) for c in cols], dim=1)
    got = m.stack(list(data), dtype=target)
    assert got.dtype == want.dtype and torch.equal(got, want)
    got[:] = 0  # a new tensor: the Message is unchanged
    assert m == Message(data)


def test_stack_errors_name_the_column_and_the_fix() -> None:
    m = Message({"a": pd.array([1, None], dtype="Int64"), "s": ["x", "y"], "img": np.ones((2, 3))})
    with pytest.raises(ValueError, match="'a' has missing values"):
        m.stack(["a"])
    with pytest.raises(TypeError, match="'s' of dtype object cannot become a tensor"):
        m.stack(["s"])
    with pytest.raises(ValueError, match=r"'img' has rows of shape \(3,\)"):
        m.stack(["img"])
    with pytest.raises(KeyError, match="unknown column"):
        m.stack(["nope"])


@SETTINGS
@given(n=st.integers(0, 30), nulls=st.booleans(), seed=st.integers(0, 3))
def test_from_arrow_without_copies_equals_from_arrow(n, nulls, seed) -> None:
    from fireworks._message_io import from_arrow

    rng = np.random.default_rng(seed)
    ints = rng.integers(-5, 5, n)
    table = pa.table(
        {
            "i": pa.array(ints, mask=(ints == 0) if nulls else None),
            "f": pa.array(rng.normal(size=n).astype(np.float32)),
            "b": pa.array(ints > 0),
            "s": pa.array([str(v) for v in ints]),
            "u": pa.array(ints.astype(np.uint16)),
        }
    )
    assert from_arrow(table, copy=False) == from_arrow(table)


@SETTINGS
@given(n=st.integers(0, 20), columns=st.sampled_from([None, ["a"], ["a", "b"]]))
def test_a_windows_conversion_without_copies_equals_to_tensors(n, columns) -> None:
    m = Message(
        {
            "a": np.arange(n),
            "b": np.arange(n) / 3,
            "t": torch.arange(n),
            "s": [str(i) for i in range(n)],
        }
    )
    assert m._with_tensors(columns, copy=False) == m.to_tensors(columns)


@SETTINGS
@given(n=st.integers(1, 30), size=st.integers(1, 8), tail=st.booleans())
def test_batches_cut_from_a_window_equal_slices(n, size, tail) -> None:
    window = Message({"t": torch.arange(n * 2).reshape(n, 2), "v": np.arange(n)})
    stop = n if tail else max(1, n - 1)  # a window whose last rows are not in any batch
    bounds = [(a, min(a + size, stop)) for a in range(0, stop, size)]
    got = list(split_windows(iter([(window, bounds)])))
    assert [rows([g]) for g in got] == [rows([window[a:b]]) for a, b in bounds]
